/*
 * Benchmark data generator: one CA and N S/MIME leaf certificates, made in-process with
 * OpenSSL's API (no process per certificate), plus the LDIF files the benchmarks load.
 *
 *   gen [-n N] [-j THREADS] [-k KEYS] [-p PEMS] [-o OUTDIR] [-s SUFFIX]
 *
 *   -n N        number of contacts / certificates (default 10000)
 *   -j THREADS  signing threads (default: online CPUs)
 *   -k KEYS     size of the pool of EC P-256 leaf keys reused across certificates (default 64)
 *   -p PEMS     write PEM files for the first PEMS certificates only (default: all N)
 *   -o OUTDIR   output directory, created if missing (default "bench-data")
 *   -s SUFFIX   directory suffix (default dc=example,dc=test); contacts go below ou=partners
 *   -c rsa|ec   CA key: RSA 2048 (default; cheap to verify, ~0.3 ms of CPU per signature) or
 *               EC P-256 (about 15 times faster to generate, 3-4 times dearer to verify)
 *
 * Writes into OUTDIR:
 *   root.pem            the CA certificate, for --ca-file / openssl verify -CAfile
 *   certs/user<i>.pem   leaf i (i = 1..N), PEM
 *   keys/key<k>.pem     the pooled private keys (PKCS#8 PEM): leaf i's is k = (i - 1) % KEYS,
 *                       for signing test mail as user<i>
 *   contacts.ldif       N contacts without certificates (objectClass contact: cn, mail,
 *                       proxyAddresses SMTP:)
 *   contacts-certs.ldif the same contacts with userCertificate;binary:: values
 *   modify.ldif         N blind modifications (replace userCertificate;binary) for ldapmodify
 *
 * Every leaf is distinct: serial, subject CN=User <i>, subjectAltName rfc822Name
 * user<i>@bench.example, valid 2026-01-01..2027-01-01, keyUsage digitalSignature+keyAgreement,
 * extendedKeyUsage emailProtection, signed SHA-256 by the CA.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_CN "smimepub Bench Root CA"
#define MAIL_DOMAIN "bench.example"
#define LEAF_NOT_BEFORE "20260101000000Z"
#define LEAF_NOT_AFTER "20270101000000Z"
#define CA_NOT_BEFORE "20250101000000Z"
#define CA_NOT_AFTER "20350101000000Z"
#define MAX_THREADS 64

struct gen {
	long n;
	int threads;
	int nkeys;
	long pems;
	const char *outdir;
	const char *suffix;
	int ec_ca;

	X509 *ca;
	EVP_PKEY *ca_key;
	EVP_PKEY **keys;
	X509_EXTENSION **key_skid;  /* subjectKeyIdentifier of each pooled key */
	unsigned char **key_point;  /* encoded public point of each pooled key */
	size_t *key_point_len;
	X509_EXTENSION *common[4];  /* basicConstraints, keyUsage, EKU, authorityKeyIdentifier */
	ASN1_TIME *not_before, *not_after;

	unsigned char **der;    /* der[i] for leaf i+1 */
	int *der_len;
};

struct worker {
	struct gen *g;
	long first, last;       /* leaf indexes [first, last) */
	int failed;
};

static void die_openssl(const char *what)
{
	fprintf(stderr, "gen: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void die(const char *what)
{
	fprintf(stderr, "gen: %s\n", what);
	exit(1);
}

static int add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int set_times(X509 *x, const char *nb, const char *na)
{
	ASN1_TIME *t = ASN1_TIME_new();
	int ok = t != NULL && ASN1_TIME_set_string(t, nb) && X509_set1_notBefore(x, t) &&
		 ASN1_TIME_set_string(t, na) && X509_set1_notAfter(x, t);

	ASN1_TIME_free(t);
	return ok;
}

static void make_ca(struct gen *g)
{
	X509_NAME *name;

	g->ca_key = g->ec_ca ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	if (g->ca_key == NULL)
		die_openssl("cannot generate the CA key");
	if ((g->ca = X509_new()) == NULL || (name = X509_NAME_new()) == NULL)
		die_openssl("out of memory");
	X509_set_version(g->ca, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(g->ca), 1);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"smimepub bench",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)CA_CN, -1, -1, 0);
	X509_set_subject_name(g->ca, name);
	X509_set_issuer_name(g->ca, name);
	X509_NAME_free(name);
	if (!set_times(g->ca, CA_NOT_BEFORE, CA_NOT_AFTER) || !X509_set_pubkey(g->ca, g->ca_key) ||
	    !add_ext(g->ca, g->ca, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(g->ca, g->ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(g->ca, g->ca, NID_subject_key_identifier, "hash") ||
	    !X509_sign(g->ca, g->ca_key, EVP_sha256()))
		die_openssl("cannot make the CA certificate");
}

static X509_EXTENSION *conf_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		die_openssl("cannot make an extension");
	return ext;
}

/*
 * The key pool, and everything that is the same across leaves built once: parsing extension
 * text for every certificate would cost more than signing it.
 */
static void make_keys(struct gen *g)
{
	X509 *tmp;

	g->keys = calloc((size_t)g->nkeys, sizeof(*g->keys));
	g->key_skid = calloc((size_t)g->nkeys, sizeof(*g->key_skid));
	g->key_point = calloc((size_t)g->nkeys, sizeof(*g->key_point));
	g->key_point_len = calloc((size_t)g->nkeys, sizeof(*g->key_point_len));
	if (g->keys == NULL || g->key_skid == NULL || g->key_point == NULL ||
	    g->key_point_len == NULL || (tmp = X509_new()) == NULL)
		die("out of memory");
	for (int i = 0; i < g->nkeys; i++) {
		if ((g->keys[i] = EVP_EC_gen("P-256")) == NULL || !X509_set_pubkey(tmp, g->keys[i]) ||
		    (g->key_point_len[i] = EVP_PKEY_get1_encoded_public_key(g->keys[i],
									      &g->key_point[i])) == 0)
			die_openssl("cannot generate an EC key");
		g->key_skid[i] = conf_ext(g->ca, tmp, NID_subject_key_identifier, "hash");
	}
	X509_free(tmp);
	g->common[0] = conf_ext(g->ca, NULL, NID_basic_constraints, "critical,CA:FALSE");
	g->common[1] = conf_ext(g->ca, NULL, NID_key_usage, "critical,digitalSignature,keyAgreement");
	g->common[2] = conf_ext(g->ca, NULL, NID_ext_key_usage, "emailProtection");
	g->common[3] = conf_ext(g->ca, NULL, NID_authority_key_identifier, "keyid:always");
	g->not_before = ASN1_TIME_new();
	g->not_after = ASN1_TIME_new();
	if (g->not_before == NULL || g->not_after == NULL ||
	    !ASN1_TIME_set_string(g->not_before, LEAF_NOT_BEFORE) ||
	    !ASN1_TIME_set_string(g->not_after, LEAF_NOT_AFTER))
		die_openssl("cannot set the validity");
}

/*
 * Sets the leaf's public key from the pool's pre-encoded point: X509_set_pubkey() runs
 * OpenSSL 3's encoder machinery for every call, which costs as much as an RSA signature.
 */
static int set_pubkey(X509 *x, const struct gen *g, long k)
{
	unsigned char *point = OPENSSL_memdup(g->key_point[k], g->key_point_len[k]);

	if (point == NULL)
		return 0;
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
				    V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), point,
				    (int)g->key_point_len[k])) {
		OPENSSL_free(point);
		return 0;
	}
	return 1;
}

/* subjectAltName with the one rfc822Name. */
static int add_san(X509 *x, const char *mail)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	int ok = 0;

	if (names == NULL || gn == NULL || s == NULL || !ASN1_STRING_set(s, mail, -1))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
	s = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND) == 1;
out:
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ok;
}

/* Leaf number idx (1-based): returns its DER in *der (OPENSSL_malloc'd), or 0 on failure. */
static int make_leaf(struct gen *g, const EVP_MD_CTX *sign_tmpl, EVP_MD_CTX *sign, long idx,
		     unsigned char **der)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *serial = BN_new();
	char cn[64], mail[96];
	long k = (idx - 1) % g->nkeys;
	int len = 0;

	if (x == NULL || name == NULL || serial == NULL)
		goto out;
	snprintf(cn, sizeof(cn), "User %ld", idx);
	snprintf(mail, sizeof(mail), "user%ld@" MAIL_DOMAIN, idx);
	/* distinct, positive, 64-bit serials: a fixed high word plus the index */
	if (!BN_set_word(serial, 0x5EB0000000000000UL + (unsigned long)idx) ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL)
		goto out;
	X509_set_version(x, X509_VERSION_3);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				   (const unsigned char *)"Bench Partner", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	if (!X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(g->ca)) ||
	    !X509_set1_notBefore(x, g->not_before) || !X509_set1_notAfter(x, g->not_after) ||
	    !set_pubkey(x, g, k) ||
	    !X509_add_ext(x, g->common[0], -1) || !X509_add_ext(x, g->common[1], -1) ||
	    !X509_add_ext(x, g->common[2], -1) || !add_san(x, mail) ||
	    !X509_add_ext(x, g->key_skid[k], -1) || !X509_add_ext(x, g->common[3], -1) ||
	    !EVP_MD_CTX_copy_ex(sign, sign_tmpl) || !X509_sign_ctx(x, sign))
		goto out;
	len = i2d_X509(x, der);
	if (len <= 0)
		len = 0;
out:
	BN_free(serial);
	X509_NAME_free(name);
	X509_free(x);
	return len;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct gen *g = w->g;
	/*
	 * One signing context set up per thread and copied per certificate: X509_sign() would
	 * fetch the digest and signature implementations and build a key context every time,
	 * which costs about as much as the RSA signature itself.
	 */
	EVP_PKEY *key = EVP_PKEY_dup(g->ca_key);
	EVP_MD_CTX *tmpl = EVP_MD_CTX_new(), *sign = EVP_MD_CTX_new();

	if (key == NULL || tmpl == NULL || sign == NULL ||
	    EVP_DigestSignInit_ex(tmpl, NULL, "SHA256", NULL, NULL, key, NULL) != 1) {
		w->failed = 1;
		goto out;
	}
	for (long i = w->first; i < w->last; i++) {
		g->der_len[i] = make_leaf(g, tmpl, sign, i + 1, &g->der[i]);
		if (g->der_len[i] == 0) {
			w->failed = 1;
			break;
		}
	}
out:
	EVP_MD_CTX_free(sign);
	EVP_MD_CTX_free(tmpl);
	EVP_PKEY_free(key);
	return NULL;
}

static void make_leaves(struct gen *g)
{
	pthread_t tid[MAX_THREADS];
	struct worker w[MAX_THREADS];
	long per = (g->n + g->threads - 1) / g->threads;

	g->der = calloc((size_t)g->n, sizeof(*g->der));
	g->der_len = calloc((size_t)g->n, sizeof(*g->der_len));
	if (g->der == NULL || g->der_len == NULL)
		die("out of memory");
	for (int t = 0; t < g->threads; t++) {
		w[t].g = g;
		w[t].first = per * t < g->n ? per * t : g->n;
		w[t].last = per * (t + 1) < g->n ? per * (t + 1) : g->n;
		w[t].failed = 0;
		if (pthread_create(&tid[t], NULL, work, &w[t]) != 0)
			die("cannot start a thread");
	}
	for (int t = 0; t < g->threads; t++) {
		pthread_join(tid[t], NULL);
		if (w[t].failed)
			die_openssl("cannot make a leaf certificate");
	}
}

static FILE *open_out(const struct gen *g, const char *name)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", g->outdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		fprintf(stderr, "gen: cannot write '%s': %s\n", path, strerror(errno));
		exit(1);
	}
	return fp;
}

static void close_out(FILE *fp, const char *name)
{
	if (ferror(fp) || fclose(fp) != 0) {
		fprintf(stderr, "gen: cannot write '%s'\n", name);
		exit(1);
	}
}

/* Writes the base64 of der as LDIF continuation lines after "attr:: ". */
static void ldif_b64(FILE *fp, const char *attr, const unsigned char *der, int len)
{
	size_t cap = 4 * (((size_t)len + 2) / 3) + 1;
	char *b64 = malloc(cap);
	size_t n, col, pos = 0;

	if (b64 == NULL)
		die("out of memory");
	n = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, len);
	fprintf(fp, "%s:: ", attr);
	col = strlen(attr) + 3;
	while (pos < n) {
		size_t take = 76 - col < n - pos ? 76 - col : n - pos;
		fwrite(b64 + pos, 1, take, fp);
		fputc('\n', fp);
		pos += take;
		if (pos < n)
			fputc(' ', fp);
		col = 1;
	}
	free(b64);
}

static void contact(FILE *fp, const struct gen *g, long idx)
{
	fprintf(fp,
		"dn: cn=user%ld,ou=partners,%s\n"
		"objectClass: contact\n"
		"cn: user%ld\n"
		"displayName: User %ld\n"
		"mail: user%ld@" MAIL_DOMAIN "\n"
		"proxyAddresses: SMTP:user%ld@" MAIL_DOMAIN "\n",
		idx, g->suffix, idx, idx, idx, idx);
}

static void write_outputs(const struct gen *g)
{
	char path[PATH_MAX];
	FILE *plain, *certs, *mods, *fp;

	snprintf(path, sizeof(path), "%s/certs", g->outdir);
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		die("cannot create OUTDIR/certs");

	fp = open_out(g, "root.pem");
	PEM_write_X509(fp, g->ca);
	close_out(fp, "root.pem");

	snprintf(path, sizeof(path), "%s/keys", g->outdir);
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		die("cannot create OUTDIR/keys");
	for (int k = 0; k < g->nkeys; k++) {
		char name[64];

		snprintf(name, sizeof(name), "keys/key%d.pem", k);
		fp = open_out(g, name);
		if (!PEM_write_PrivateKey(fp, g->keys[k], NULL, NULL, 0, NULL, NULL))
			die_openssl("cannot write a key");
		close_out(fp, name);
	}

	plain = open_out(g, "contacts.ldif");
	certs = open_out(g, "contacts-certs.ldif");
	mods = open_out(g, "modify.ldif");
	for (long i = 0; i < g->n; i++) {
		long idx = i + 1;

		contact(plain, g, idx);
		fputc('\n', plain);
		contact(certs, g, idx);
		ldif_b64(certs, "userCertificate;binary", g->der[i], g->der_len[i]);
		fputc('\n', certs);
		fprintf(mods, "dn: cn=user%ld,ou=partners,%s\nchangetype: modify\n"
			"replace: userCertificate;binary\n", idx, g->suffix);
		ldif_b64(mods, "userCertificate;binary", g->der[i], g->der_len[i]);
		fputs("-\n\n", mods);

		if (i < g->pems) {
			char name[64];

			snprintf(name, sizeof(name), "certs/user%ld.pem", idx);
			fp = open_out(g, name);
			if (!PEM_write(fp, PEM_STRING_X509, "", g->der[i], g->der_len[i]))
				die_openssl("cannot write a PEM file");
			close_out(fp, name);
		}
	}
	close_out(plain, "contacts.ldif");
	close_out(certs, "contacts-certs.ldif");
	close_out(mods, "modify.ldif");
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		fprintf(stderr, "gen: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct gen g;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double t0 = now(), t1;
	int c;

	memset(&g, 0, sizeof(g));
	g.n = 10000;
	g.threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1;
	g.nkeys = 64;
	g.pems = -1;
	g.outdir = "bench-data";
	g.suffix = "dc=example,dc=test";
	while ((c = getopt(argc, argv, "n:j:k:p:o:s:c:h")) != -1) {
		switch (c) {
		case 'n': g.n = parse_long(optarg, "-n", 1, 10000000); break;
		case 'j': g.threads = (int)parse_long(optarg, "-j", 1, MAX_THREADS); break;
		case 'k': g.nkeys = (int)parse_long(optarg, "-k", 1, 100000); break;
		case 'p': g.pems = parse_long(optarg, "-p", 0, 10000000); break;
		case 'o': g.outdir = optarg; break;
		case 's': g.suffix = optarg; break;
		case 'c':
			if (strcmp(optarg, "rsa") != 0 && strcmp(optarg, "ec") != 0) {
				fprintf(stderr, "gen: -c takes rsa or ec\n");
				return 2;
			}
			g.ec_ca = strcmp(optarg, "ec") == 0;
			break;
		default:
			fprintf(stderr, "usage: gen [-n N] [-j THREADS] [-k KEYS] [-p PEMS] "
				"[-o OUTDIR] [-s SUFFIX] [-c rsa|ec]\n");
			return 2;
		}
	}
	if (g.pems < 0 || g.pems > g.n)
		g.pems = g.n;
	if (mkdir(g.outdir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen: cannot create '%s': %s\n", g.outdir, strerror(errno));
		return 1;
	}

	make_ca(&g);
	make_keys(&g);
	make_leaves(&g);
	t1 = now();
	write_outputs(&g);
	fprintf(stderr, "gen: %ld certificates (%d threads, %d keys) in %.2f s, files in %.2f s\n",
		g.n, g.threads, g.nkeys, t1 - t0, now() - t1);

	for (long i = 0; i < g.n; i++)
		OPENSSL_free(g.der[i]);
	free(g.der);
	free(g.der_len);
	for (int i = 0; i < g.nkeys; i++) {
		EVP_PKEY_free(g.keys[i]);
		X509_EXTENSION_free(g.key_skid[i]);
		OPENSSL_free(g.key_point[i]);
	}
	free(g.key_point);
	free(g.key_point_len);
	free(g.keys);
	free(g.key_skid);
	for (int i = 0; i < 4; i++)
		X509_EXTENSION_free(g.common[i]);
	ASN1_TIME_free(g.not_before);
	ASN1_TIME_free(g.not_after);
	EVP_PKEY_free(g.ca_key);
	X509_free(g.ca);
	return 0;
}
