/*
 * Integration test of the directory layer (lib/dir/) against a real slapd and a real Samba AD.
 *
 *   SMIMEPUB_SLAPD_ENV=DIR/env SMIMEPUB_AD_ENV=DIR/env dir_test
 *
 * The env files are those written by tests/dirs/slapd.sh and tests/dirs/samba.sh. Both must be
 * given: a missing one is a failure, not a skip. Everything the test writes lives under its own
 * OU below the partners OU and is deleted at the end. Prints "N passed, N failed".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

static int passed, failed;
static const char *suite = "-";

#define CHECK(cond, name)                                                                   \
	do {                                                                                \
		if (cond) {                                                                 \
			passed++;                                                           \
		} else {                                                                    \
			failed++;                                                           \
			fprintf(stderr, "FAIL [%s] %s (%s:%d: %s)\n", suite, name, __FILE__,  \
				__LINE__, #cond);                                           \
		}                                                                           \
	} while (0)

/* SMIMEPUB_TEST_VERBOSE=1 shows the message of every expected error too. */
static int verbose;

#define CHECK_ERR(r, want, err, name)                                                       \
	do {                                                                                \
		CHECK((r) == (want), name);                                                 \
		if ((r) != (want))                                                          \
			fprintf(stderr, "    got %d, want %d: %s\n", (r), (want), (err).msg);     \
		else if (verbose && (r) != 0)                                               \
			fprintf(stderr, "ok [%s] %s: %s\n", suite, name, (err).msg);            \
	} while (0)

/* ---- env files ---------------------------------------------------------------------------- */

#define ENV_MAX 64

struct env {
	char *key[ENV_MAX];
	char *val[ENV_MAX];
	int n;
};

/* KEY=VALUE lines; VALUE bare or single-quoted with '\'' for a quote (as lib.sh writes them). */
static int env_load(struct env *env, const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[4096];

	memset(env, 0, sizeof(*env));
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL && env->n < ENV_MAX) {
		char *eq, *v, *o;
		size_t len = strlen(line);

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[0] == '#' || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		for (o = v; *v != '\0';) {
			if (*v == '\'') {
				for (v++; *v != '\0' && *v != '\''; v++)
					*o++ = *v;
				if (*v == '\'')
					v++;
			} else if (*v == '\\' && v[1] != '\0') {
				*o++ = v[1];
				v += 2;
			} else {
				*o++ = *v++;
			}
		}
		*o = '\0';
		env->key[env->n] = strdup(line);
		env->val[env->n] = strdup(eq + 1);
		env->n++;
	}
	fclose(fp);
	return 0;
}

static const char *env_get(const struct env *env, const char *key)
{
	int i;

	for (i = 0; i < env->n; i++) {
		if (strcmp(env->key[i], key) == 0)
			return env->val[i];
	}
	return NULL;
}

static void env_free(struct env *env)
{
	int i;

	for (i = 0; i < env->n; i++) {
		free(env->key[i]);
		free(env->val[i]);
	}
}

/* ---- certificates ------------------------------------------------------------------------- */

#define NCERTS 12

static struct berval certs[NCERTS];
static char unknown_ca[64];

static X509 *make_cert(EVP_PKEY *key, int serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	char cn[64];

	snprintf(cn, sizeof(cn), "dir_test %d", serial);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial + 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

static int make_certs(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	FILE *fp;
	int i, fd;

	if (key == NULL)
		return -1;
	for (i = 0; i < NCERTS; i++) {
		X509 *x = make_cert(key, i);
		unsigned char *der = NULL;
		int len = i2d_X509(x, &der);

		certs[i].bv_len = (ber_len_t)len;
		certs[i].bv_val = (char *)der;
		if (i == 0) {
			snprintf(unknown_ca, sizeof(unknown_ca), "/tmp/dir_test_ca.XXXXXX");
			fd = mkstemp(unknown_ca);
			fp = fd >= 0 ? fdopen(fd, "w") : NULL;
			if (fp == NULL)
				return -1;
			PEM_write_X509(fp, x);
			fclose(fp);
		}
		X509_free(x);
	}
	EVP_PKEY_free(key);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int same_bv(const struct berval *a, const struct berval *b)
{
	return a->bv_len == b->bv_len && memcmp(a->bv_val, b->bv_val, a->bv_len) == 0;
}

/* Whether two DNs name the same entry (attribute types and ASCII case ignored). */
static int same_dn(const char *a, const char *b)
{
	LDAPDN da = NULL, db = NULL;
	int same = 0, i, j;

	if (ldap_str2dn(a, &da, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    ldap_str2dn(b, &db, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		goto out;
	for (i = 0; da[i] != NULL && db[i] != NULL; i++) {
		for (j = 0; da[i][j] != NULL && db[i][j] != NULL; j++) {
			LDAPAVA *x = da[i][j], *y = db[i][j];

			if (x->la_attr.bv_len != y->la_attr.bv_len ||
			    strncasecmp(x->la_attr.bv_val, y->la_attr.bv_val, x->la_attr.bv_len) != 0 ||
			    x->la_value.bv_len != y->la_value.bv_len ||
			    strncasecmp(x->la_value.bv_val, y->la_value.bv_val, x->la_value.bv_len) != 0)
				goto out;
		}
		if (da[i][j] != NULL || db[i][j] != NULL)
			goto out;
	}
	same = da[i] == NULL && db[i] == NULL;
out:
	ldap_dnfree(da);
	ldap_dnfree(db);
	return same;
}

/* Whether the entry's certificates are exactly the listed test certificates, in any order. */
static int certs_are(const smp_entry *e, const int *want, size_t n)
{
	size_t i, j;

	if (e == NULL || e->n_certs != n)
		return 0;
	for (i = 0; i < n; i++) {
		int found = 0;

		for (j = 0; j < e->n_certs; j++)
			found |= same_bv(&e->certs[j], &certs[want[i]]);
		if (!found)
			return 0;
	}
	return 1;
}

static int read_certs_are(smp_dir *d, const char *dn, const int *want, size_t n)
{
	smp_entry *e = NULL;
	smp_error err = SMP_ERROR_INIT;
	int ok;

	if (smp_dir_read(d, dn, &e, &err) != 0) {
		fprintf(stderr, "    read '%s': %s\n", dn, err.msg);
		return 0;
	}
	ok = certs_are(e, want, n);
	smp_entry_free(e);
	return ok;
}

struct target {
	const char *kind;            /* "slapd" or "ad" */
	const char *uri, *ldaps_uri, *ldapi_uri, *base, *cacert;
	const char *admin_dn, *admin_pw, *reader_dn, *reader_pw, *writer_dn, *writer_pw;
	const char *partners;
	const char *want_profile;
	char ou[256];                /* our OU, wiped at the end */
};

static int open_as(smp_dir **d, const struct target *t, const char *uri, const char *dn,
		   const char *pw, const char *base, smp_error *err)
{
	smp_conn_options o = SMP_CONN_OPTIONS_INIT;

	o.uri = uri;
	o.binddn = dn;
	o.password = pw;
	o.base = base;
	o.tls_cacert = t->cacert;
	o.timeout = 10;
	return smp_dir_open(d, &o, err);
}

static int raw_add(LDAP *ld, const char *dn, LDAPMod **mods)
{
	int rc = ldap_add_ext_s(ld, dn, mods, NULL, NULL);

	if (rc != LDAP_SUCCESS)
		fprintf(stderr, "    add '%s': %s (%d)\n", dn, ldap_err2string(rc), rc);
	return rc;
}

static int add_ou(LDAP *ld, const char *dn, const char *ou)
{
	char *oc[] = { "top", "organizationalUnit", NULL };
	char *ouv[] = { (char *)ou, NULL };
	LDAPMod m0 = { LDAP_MOD_ADD, "objectClass", { oc } };
	LDAPMod m1 = { LDAP_MOD_ADD, "ou", { ouv } };
	LDAPMod *mods[] = { &m0, &m1, NULL };

	return raw_add(ld, dn, mods);
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Deletes dn and everything below it, deepest first. */
static void delete_tree(LDAP *ld, const char *dn)
{
	char *attrs[] = { "1.1", NULL };
	LDAPMessage *res = NULL, *m;
	char **dns = NULL;
	size_t n = 0, i;

	if (ldap_search_ext_s(ld, dn, LDAP_SCOPE_SUBTREE, "(objectClass=*)", attrs, 0, NULL, NULL,
			      NULL, 0, &res) == LDAP_SUCCESS) {
		for (m = ldap_first_entry(ld, res); m != NULL; m = ldap_next_entry(ld, m)) {
			dns = realloc(dns, (n + 1) * sizeof(*dns));
			dns[n++] = ldap_get_dn(ld, m);
		}
	}
	ldap_msgfree(res);
	if (n > 1)
		qsort(dns, n, sizeof(*dns), by_length_desc);
	for (i = 0; i < n; i++) {
		ldap_delete_ext_s(ld, dns[i], NULL, NULL);
		ldap_memfree(dns[i]);
	}
	free(dns);
}

static int counted;

static int count_entry(const smp_entry *e, void *ctx)
{
	int *stop_after = ctx;

	if (e->n_certs + e->n_smime > 0)
		counted++;
	if (stop_after != NULL && *stop_after > 0 && counted >= *stop_after)
		return 42;
	return 0;
}

static int referrals;

static void count_referral(const char *url, void *ctx)
{
	(void)url;
	(void)ctx;
	referrals++;
}

/* ---- tests without a server --------------------------------------------------------------- */

static void test_offline(void)
{
	smp_conn_options o = SMP_CONN_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_dir *d = NULL;
	struct timespec t0, t1;
	int r;

	suite = "offline";
	CHECK(smp_dir_uri_is_local("ldap://127.0.0.1:389"), "127.0.0.1 is local");
	CHECK(smp_dir_uri_is_local("ldap://127.5.6.7"), "127/8 is local");
	CHECK(smp_dir_uri_is_local("ldap://[::1]:389"), "::1 is local");
	CHECK(smp_dir_uri_is_local("ldap://localhost"), "localhost is local");
	CHECK(smp_dir_uri_is_local("ldapi://%2Ftmp%2Fx"), "ldapi is local");
	CHECK(smp_dir_uri_is_local("ldap:///"), "empty host is local");
	CHECK(!smp_dir_uri_is_local("ldap://192.0.2.1"), "192.0.2.1 is not local");
	CHECK(!smp_dir_uri_is_local("ldap://dc1.example.test"), "a name is not local");
	CHECK(!smp_dir_uri_is_local("ldap://127.0.0.1 ldap://192.0.2.1"), "a list with a remote host");
	CHECK(!smp_dir_uri_is_local("ldap://127.0.0.1.evil.example"), "127.0.0.1.evil is not local");
	CHECK(!smp_dir_uri_is_local("not a uri"), "garbage is not local");

	/* refused before any connection: the open returns at once */
	o.uri = "ldap://192.0.2.1";
	o.binddn = "cn=admin,dc=example,dc=test";
	o.password = "sEcReT-pw";
	o.timeout = 30;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = smp_dir_open(&d, &o, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_ERR(r, SMP_ERR_USAGE, err, "plaintext bind to a remote host refused");
	CHECK(d == NULL, "no handle after refusal");
	CHECK(err.hint == SMP_HINT_PLAINTEXT_BIND && strstr(err.msg, "--") == NULL,
	      "refusal hints at TLS or allowing clear text, naming no flag");
	CHECK(strstr(err.msg, "sEcReT-pw") == NULL, "refusal does not show the password");
	CHECK(t1.tv_sec - t0.tv_sec < 1, "refusal is immediate");

	/* unreachable */
	o.uri = "ldap://127.0.0.1:1";
	o.binddn = NULL;
	o.password = NULL;
	o.timeout = 5;
	r = smp_dir_open(&d, &o, &err);
	CHECK_ERR(r, SMP_ERR_UNAVAILABLE, err, "unreachable server");
	CHECK(strstr(err.msg, "Can't contact LDAP server") != NULL &&
	      strstr(err.msg, "ldap://127.0.0.1:1") != NULL, "unreachable message");

	o.uri = "ldap://127.0.0.1:1";
	o.binddn = "cn=x";
	o.password = "sEcReT-pw";
	r = smp_dir_open(&d, &o, &err);
	CHECK_ERR(r, SMP_ERR_UNAVAILABLE, err, "unreachable server with a bind");
	CHECK(strstr(err.msg, "sEcReT-pw") == NULL, "unreachable message does not show the password");

	o.uri = "bogus://x";
	r = smp_dir_open(&d, &o, &err);
	CHECK_ERR(r, SMP_ERR_USAGE, err, "bad URI");
}

/* ---- tests against one server ------------------------------------------------------------- */

static void test_server(struct target *t)
{
	smp_error err = SMP_ERROR_INIT;
	smp_dir *d = NULL, *d2 = NULL;
	smp_entry **v = NULL, *e = NULL;
	size_t n = 0, i;
	LDAP *ld;
	char *dn = NULL, *dn2 = NULL, *dn_weird = NULL;
	char ouname[64], walk_ou[320], proxy_dn[320], addr[320];
	const char *weird_cn = "#Müller, \"Bob\" + \\ Ünïcødé <Co>; =x ";
	const char *weird_addr = "st*r(x)\\y@partner.example";
	int r, stop;
	int c0[] = { 0 }, c01[] = { 0, 1 }, c12[] = { 1, 2 }, c123[] = { 1, 2, 3 };
	struct berval certval[2];
	smp_change ch[2];

	suite = t->kind;

	/* --- open, profile, base --- */
	r = open_as(&d, t, t->uri, t->admin_dn, t->admin_pw, NULL, &err);
	CHECK_ERR(r, 0, err, "admin bind");
	if (r != 0)
		return;
	CHECK(strcmp(smp_dir_profile(d)->name, t->want_profile) == 0, "profile auto-detected");
	CHECK(strcasecmp(smp_dir_base(d), t->base) == 0, "base from the root DSE");
	CHECK(smp_dir_warning(d) == NULL, "no warning");
	ld = smp_dir_ldap(d);

	/* --- the password kept for smp_dir_reconnect, until smp_dir_forget_password --- */
	{
		smp_dir *df = NULL;
		smp_entry *root = NULL;

		r = open_as(&df, t, t->uri, t->admin_dn, t->admin_pw, NULL, &err);
		CHECK_ERR(r, 0, err, "second admin bind");
		if (r == 0) {
			r = smp_dir_reconnect(df, &err);
			CHECK_ERR(r, 0, err, "reconnect binds again with the kept password");
			smp_dir_forget_password(df);
			r = smp_dir_reconnect(df, &err);
			CHECK_ERR(r, SMP_ERR_UNAVAILABLE, err, "no reconnect after forget_password");
			CHECK(strstr(err.msg, "cleared") != NULL, "the refusal says why");
			r = smp_dir_read(df, t->base, &root, &err);
			CHECK_ERR(r, 0, err, "the bound connection still works after forget_password");
			smp_entry_free(root);
			smp_dir_forget_password(df);  /* twice is harmless */
		}
		smp_dir_forget_password(NULL);
		smp_dir_close(df);
	}

	snprintf(ouname, sizeof(ouname), "dt%ld", (long)getpid());
	snprintf(t->ou, sizeof(t->ou), "ou=%s,%s", ouname, t->partners);
	delete_tree(ld, t->ou);
	CHECK(add_ou(ld, t->ou, ouname) == LDAP_SUCCESS, "test OU created");

	/* --- create contact with a name full of DN specials, read it back --- */
	r = smp_dir_create_contact(d, t->ou, weird_cn, "bob@partner.example", &dn_weird, &err);
	CHECK_ERR(r, 0, err, "create contact with special characters in cn");
	if (r == 0) {
		LDAPDN pdn = NULL;

		CHECK(ldap_str2dn(dn_weird, &pdn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && pdn != NULL &&
		      pdn[0][0]->la_value.bv_len == strlen(weird_cn) &&
		      memcmp(pdn[0][0]->la_value.bv_val, weird_cn, strlen(weird_cn)) == 0,
		      "DN parses back to the cn");
		ldap_dnfree(pdn);
		r = smp_dir_read(d, dn_weird, &e, &err);
		CHECK_ERR(r, 0, err, "read the new contact");
		CHECK(e != NULL && e->cn != NULL && strcmp(e->cn, weird_cn) == 0, "cn read back");
		CHECK(e != NULL && e->n_mail == 1 && strcmp(e->mail[0], "bob@partner.example") == 0,
		      "mail read back");
		if (strcmp(t->kind, "ad") == 0)
			CHECK(e != NULL && e->n_proxy == 1 &&
			      strcmp(e->proxy[0], "SMTP:bob@partner.example") == 0,
			      "AD contact has proxyAddresses SMTP:");
		smp_entry_free(e);
		e = NULL;
	}
	r = smp_dir_create_contact(d, t->ou, weird_cn, "bob2@partner.example", &dn, &err);
	CHECK_ERR(r, SMP_ERR_CONFLICT, err, "creating the same contact twice");
	free(dn);
	dn = NULL;

	r = smp_dir_read(d, "cn=does not exist,dc=nowhere", &e, &err);
	CHECK(r == SMP_ERR_NOTFOUND, "read of a missing entry outside the base");
	snprintf(addr, sizeof(addr), "cn=nobody,%s", t->ou);
	r = smp_dir_read(d, addr, &e, &err);
	CHECK_ERR(r, SMP_ERR_NOTFOUND, err, "read of a missing entry");

	/* --- find: escaping, case, proxyAddresses --- */
	r = smp_dir_create_contact(d, t->ou, "Star Person", weird_addr, &dn2, &err);
	CHECK_ERR(r, 0, err, "create contact with filter specials in the address");
	r = smp_dir_find_by_address(d, weird_addr, &v, &n, &err);
	CHECK_ERR(r, 0, err, "find address with * ( ) \\");
	CHECK(n == 1 && dn2 != NULL && same_dn(v[0]->dn, dn2), "exactly that entry");
	smp_entries_free(v, n);
	{
		const char *inject[] = { "*", "*)(mail=*", "st*", "*@partner.example",
					 "bob@partner.example)(|(mail=*", "\\2a", NULL };

		for (i = 0; inject[i] != NULL; i++) {
			r = smp_dir_find_by_address(d, inject[i], &v, &n, &err);
			CHECK_ERR(r, 0, err, "injection search runs");
			CHECK(n == 0, "injection attempt matches nothing");
			if (n != 0)
				fprintf(stderr, "    '%s' matched %zu\n", inject[i], n);
			smp_entries_free(v, n);
		}
	}
	r = smp_dir_find_by_address(d, "BOB@Partner.EXAMPLE", &v, &n, &err);
	CHECK_ERR(r, 0, err, "find with other case");
	CHECK(n == 1 && dn_weird != NULL && same_dn(v[0]->dn, dn_weird),
	      "case-insensitive match");
	CHECK(n == 1 && smp_entry_has_address(v[0], "bob@partner.example") == 2, "matched via mail");
	smp_entries_free(v, n);

	{
		char *oc_ad[] = { "top", "person", "organizationalPerson", "contact", NULL };
		char *oc_rfc[] = { "contact", NULL };
		char *cnv[] = { "Proxy Only", NULL };
		char *pa[] = { "SMTP:primary.other@partner.example", "smtp:proxyonly@partner.example",
			       "X500:/o=x", NULL };
		LDAPMod m0 = { LDAP_MOD_ADD, "objectClass",
			       { strcmp(t->kind, "ad") == 0 ? oc_ad : oc_rfc } };
		LDAPMod m1 = { LDAP_MOD_ADD, "cn", { cnv } };
		LDAPMod m2 = { LDAP_MOD_ADD, "proxyAddresses", { pa } };
		LDAPMod *mods[] = { &m0, &m1, &m2, NULL };

		snprintf(proxy_dn, sizeof(proxy_dn), "cn=Proxy Only,%s", t->ou);
		CHECK(raw_add(ld, proxy_dn, mods) == LDAP_SUCCESS, "entry with proxyAddresses only");
		r = smp_dir_find_by_address(d, "ProxyOnly@PARTNER.example", &v, &n, &err);
		CHECK_ERR(r, 0, err, "find via proxyAddresses");
		CHECK(n == 1 && same_dn(v[0]->dn, proxy_dn), "found via proxyAddresses only");
		CHECK(n == 1 && v[0]->n_mail == 0 && v[0]->n_proxy == 3, "proxy entry has no mail");
		CHECK(n == 1 && smp_entry_has_address(v[0], "proxyonly@partner.example") == 1,
		      "matched through proxyAddresses");
		smp_entries_free(v, n);
		r = smp_dir_find_by_address(d, "/o=x", &v, &n, &err);
		CHECK(r == 0 && n == 0, "X500 proxy value is not an address");
		smp_entries_free(v, n);
	}

	/* --- modify: exact values, conflicts --- */
	if (dn_weird != NULL) {
		const char *attr = smp_dir_profile(d)->cert_attr;

		ch[0] = (smp_change){ attr, NULL, 0, &certs[0], 1 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "add one certificate");
		CHECK(read_certs_are(d, dn_weird, c0, 1), "one certificate on the entry");

		ch[0] = (smp_change){ attr, NULL, 0, &certs[1], 1 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "add a second certificate");
		CHECK(read_certs_are(d, dn_weird, c01, 2), "two certificates");

		ch[0] = (smp_change){ attr, &certs[0], 1, &certs[2], 1 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "replace one certificate in one modify");
		CHECK(read_certs_are(d, dn_weird, c12, 2), "replaced");

		ch[0] = (smp_change){ attr, &certs[0], 1, &certs[3], 1 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, SMP_ERR_CONFLICT, err, "deleting a value already gone conflicts");
		CHECK(smp_dir_last_result(d) == LDAP_NO_SUCH_ATTRIBUTE, "last result is 16");
		CHECK(strstr(err.msg, "(16)") != NULL, "message carries the result code");
		CHECK(read_certs_are(d, dn_weird, c12, 2), "entry unchanged after the conflict");

		ch[0] = (smp_change){ attr, NULL, 0, &certs[2], 1 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, SMP_ERR_CONFLICT, err, "adding a value already there conflicts");
		CHECK(read_certs_are(d, dn_weird, c12, 2), "entry unchanged");

		/* reorder: delete both, add them back the other way round */
		certval[0] = certs[2];
		certval[1] = certs[1];
		ch[0] = (smp_change){ attr, &certs[1], 2, certval, 2 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "delete and re-add in one modify");
		r = smp_dir_read(d, dn_weird, &e, &err);
		CHECK(r == 0 && e->n_certs == 2, "still two after the reorder");
		if (r == 0 && strcmp(t->kind, "slapd") == 0)
			CHECK(same_bv(&e->certs[0], &certs[2]) && same_bv(&e->certs[1], &certs[1]),
			      "slapd keeps the new order");
		smp_entry_free(e);
		e = NULL;

		ch[0] = (smp_change){ attr, NULL, 0, NULL, 0 };
		r = smp_dir_modify(d, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "empty change is a no-op");
	}

	/* --- reader may not write --- */
	r = open_as(&d2, t, t->uri, t->reader_dn, t->reader_pw, NULL, &err);
	CHECK_ERR(r, 0, err, "reader bind");
	if (r == 0 && dn_weird != NULL) {
		ch[0] = (smp_change){ smp_dir_profile(d2)->cert_attr, NULL, 0, &certs[3], 1 };
		r = smp_dir_modify(d2, dn_weird, ch, 1, &err);
		CHECK_ERR(r, SMP_ERR_ACCESS, err, "reader write refused");
		CHECK(strstr(err.msg, "(50)") != NULL, "refusal names rc 50");
		CHECK(read_certs_are(d, dn_weird, c12, 2), "entry unchanged after refused write");
		r = smp_dir_find_by_address(d2, "bob@partner.example", &v, &n, &err);
		CHECK(r == 0 && n == 1, "reader can search");
		smp_entries_free(v, n);
	}
	smp_dir_close(d2);
	d2 = NULL;

	/* --- certwriter may write certificates only --- */
	r = open_as(&d2, t, t->uri, t->writer_dn, t->writer_pw, NULL, &err);
	CHECK_ERR(r, 0, err, "certwriter bind");
	if (r == 0 && dn_weird != NULL) {
		ch[0] = (smp_change){ smp_dir_profile(d2)->cert_attr, NULL, 0, &certs[3], 1 };
		r = smp_dir_modify(d2, dn_weird, ch, 1, &err);
		CHECK_ERR(r, 0, err, "certwriter adds a certificate");
		CHECK(read_certs_are(d, dn_weird, c123, 3), "certwriter's certificate is there");
		{
			struct berval mailv = { 20, "evil@attacker.example" };

			mailv.bv_len = strlen(mailv.bv_val);
			ch[0] = (smp_change){ "mail", NULL, 0, &mailv, 1 };
			r = smp_dir_modify(d2, dn_weird, ch, 1, &err);
			CHECK(r == SMP_ERR_ACCESS || r == SMP_ERR_CONFLICT || r == SMP_ERR_LDAP,
			      "certwriter cannot write mail");
			CHECK_ERR(r, SMP_ERR_ACCESS, err, "certwriter mail write is an access error");
		}
	}
	smp_dir_close(d2);
	d2 = NULL;

	/* --- wrong password --- */
	r = open_as(&d2, t, t->uri, t->admin_dn, "wrong-PASSWORD-x", NULL, &err);
	CHECK_ERR(r, SMP_ERR_ACCESS, err, "wrong password");
	CHECK(strstr(err.msg, "(49)") != NULL, "wrong password names rc 49");
	CHECK(strstr(err.msg, "wrong-PASSWORD-x") == NULL, "password not in the message");
	smp_dir_close(d2);
	d2 = NULL;

	/* --- TLS --- */
	r = open_as(&d2, t, t->ldaps_uri, t->admin_dn, t->admin_pw, NULL, &err);
	CHECK_ERR(r, 0, err, "ldaps with the test CA");
	smp_dir_close(d2);
	d2 = NULL;
	{
		struct target bad = *t;

		bad.cacert = unknown_ca;
		r = open_as(&d2, &bad, t->ldaps_uri, t->admin_dn, t->admin_pw, NULL, &err);
		CHECK_ERR(r, SMP_ERR_UNAVAILABLE, err, "ldaps with an unknown CA fails");
		CHECK(strstr(err.msg, "certificate") != NULL, "TLS failure says why");
		smp_dir_close(d2);
		d2 = NULL;
	}
	{
		smp_conn_options o = SMP_CONN_OPTIONS_INIT;

		o.uri = t->uri;
		o.binddn = t->admin_dn;
		o.password = t->admin_pw;
		o.tls_cacert = t->cacert;
		o.starttls = 2;
		o.timeout = 10;
		r = smp_dir_open(&d2, &o, &err);
		CHECK_ERR(r, 0, err, "StartTLS -ZZ");
		smp_dir_close(d2);
		d2 = NULL;

		o.tls_cacert = unknown_ca;
		r = smp_dir_open(&d2, &o, &err);
		CHECK_ERR(r, SMP_ERR_UNAVAILABLE, err, "-ZZ with an unknown CA fails");
		smp_dir_close(d2);
		d2 = NULL;

		o.starttls = 1;
		o.binddn = NULL;
		o.password = NULL;
		r = smp_dir_open(&d2, &o, &err);
		CHECK_ERR(r, 0, err, "-Z with an unknown CA goes on in clear");
		CHECK(r == 0 && smp_dir_warning(d2) != NULL, "-Z failure is a warning");
		smp_dir_close(d2);
		d2 = NULL;
	}

	/* --- walk: 7 entries, page size 2 --- */
	snprintf(walk_ou, sizeof(walk_ou), "ou=walk,%s", t->ou);
	CHECK(add_ou(ld, walk_ou, "walk") == LDAP_SUCCESS, "walk OU created");
	for (i = 0; i < 7; i++) {
		char cn[32], mail[64];

		snprintf(cn, sizeof(cn), "Walker %zu", i);
		snprintf(mail, sizeof(mail), "walker%zu@partner.example", i);
		r = smp_dir_create_contact(d, walk_ou, cn, mail, &dn, &err);
		CHECK_ERR(r, 0, err, "walk contact created");
		if (r == 0) {
			ch[0] = (smp_change){ smp_dir_profile(d)->cert_attr, NULL, 0, &certs[4 + i], 1 };
			r = smp_dir_modify(d, dn, ch, 1, &err);
			CHECK_ERR(r, 0, err, "walk contact certificate");
		}
		free(dn);
		dn = NULL;
	}
	r = smp_dir_create_contact(d, walk_ou, "Walker without cert", "nocert@partner.example", &dn,
				   &err);
	free(dn);
	dn = NULL;
	{
		smp_conn_options o = SMP_CONN_OPTIONS_INIT;

		o.uri = t->uri;
		o.binddn = t->admin_dn;
		o.password = t->admin_pw;
		o.base = walk_ou;
		o.page_size = 2;
		o.timeout = 10;
		r = smp_dir_open(&d2, &o, &err);
		CHECK_ERR(r, 0, err, "open with a base and page size 2");
		if (r == 0) {
			CHECK(strcmp(smp_dir_base(d2), walk_ou) == 0, "base from options");
			counted = 0;
			r = smp_dir_walk(d2, count_entry, count_referral, NULL, &err);
			CHECK_ERR(r, 0, err, "walk");
			CHECK(counted == 7, "walk with page size 2 sees all 7");
			if (counted != 7)
				fprintf(stderr, "    counted %d\n", counted);
			counted = 0;
			stop = 3;
			r = smp_dir_walk(d2, count_entry, NULL, &stop, &err);
			CHECK(r == 42 && counted == 3, "walk stops when fn says so");
			counted = 0;
			r = smp_dir_walk(d2, count_entry, NULL, NULL, &err);
			CHECK(r == 0 && counted == 7, "handle usable after a stopped walk");
		}
		smp_dir_close(d2);
		d2 = NULL;
	}
	if (strcmp(t->kind, "ad") == 0) {
		counted = 0;
		referrals = 0;
		r = smp_dir_walk(d, count_entry, count_referral, NULL, &err);
		CHECK_ERR(r, 0, err, "walk the whole domain");
		CHECK(referrals > 0, "domain walk reports referrals");
		CHECK(counted >= 7, "domain walk sees our entries");
	}

	/* --- EXTERNAL over ldapi --- */
	if (t->ldapi_uri != NULL) {
		smp_conn_options o = SMP_CONN_OPTIONS_INIT;

		o.uri = t->ldapi_uri;
		o.saslmech = "EXTERNAL";
		o.timeout = 10;
		r = smp_dir_open(&d2, &o, &err);
		CHECK_ERR(r, 0, err, "SASL EXTERNAL over ldapi");
		if (r == 0 && dn_weird != NULL) {
			CHECK(strcmp(smp_dir_profile(d2)->name, "rfc") == 0, "ldapi profile rfc");
			ch[0] = (smp_change){ smp_dir_profile(d2)->cert_attr, &certs[3], 1, NULL, 0 };
			r = smp_dir_modify(d2, dn_weird, ch, 1, &err);
			CHECK_ERR(r, 0, err, "EXTERNAL identity can write");
			CHECK(read_certs_are(d, dn_weird, c12, 2), "value removed over ldapi");
		}
		smp_dir_close(d2);
		d2 = NULL;
	}

	delete_tree(ld, t->ou);
	r = smp_dir_read(d, t->ou, &e, &err);
	CHECK(r == SMP_ERR_NOTFOUND, "test OU removed");
	free(dn_weird);
	free(dn2);
	smp_dir_close(d);
}

static int load_target(struct target *t, struct env *env, const char *var, const char *kind)
{
	const char *path = getenv(var);

	memset(t, 0, sizeof(*t));
	suite = kind;
	if (path == NULL || *path == '\0') {
		failed++;
		fprintf(stderr, "FAIL [%s] %s is not set: start the directory with tests/dirs/%s.sh "
			"and point %s at its env file\n", kind, var,
			strcmp(kind, "ad") == 0 ? "samba" : "slapd", var);
		return -1;
	}
	if (env_load(env, path) != 0) {
		failed++;
		fprintf(stderr, "FAIL [%s] cannot read %s='%s'\n", kind, var, path);
		return -1;
	}
	t->kind = kind;
	if (strcmp(kind, "slapd") == 0) {
		t->uri = env_get(env, "SLAPD_URI");
		t->ldaps_uri = env_get(env, "SLAPD_LDAPS_URI");
		t->ldapi_uri = env_get(env, "SLAPD_LDAPI_URI");
		t->base = env_get(env, "SLAPD_BASE");
		t->cacert = env_get(env, "SLAPD_CACERT");
		t->admin_dn = env_get(env, "SLAPD_ROOTDN");
		t->admin_pw = env_get(env, "SLAPD_ROOTPW");
		t->reader_dn = env_get(env, "SLAPD_READER_DN");
		t->reader_pw = env_get(env, "SLAPD_READER_PW");
		t->writer_dn = env_get(env, "SLAPD_WRITER_DN");
		t->writer_pw = env_get(env, "SLAPD_WRITER_PW");
		t->partners = env_get(env, "SLAPD_PARTNERS");
		t->want_profile = "rfc";
	} else {
		t->uri = env_get(env, "AD_URI");
		t->ldaps_uri = env_get(env, "AD_LDAPS_URI");
		t->base = env_get(env, "AD_BASE");
		t->cacert = env_get(env, "AD_CACERT");
		t->admin_dn = env_get(env, "AD_ADMIN_DN");
		t->admin_pw = env_get(env, "AD_ADMIN_PW");
		t->reader_dn = env_get(env, "AD_READER_DN");
		t->reader_pw = env_get(env, "AD_READER_PW");
		t->writer_dn = env_get(env, "AD_WRITER_DN");
		t->writer_pw = env_get(env, "AD_WRITER_PW");
		t->partners = env_get(env, "AD_PARTNERS");
		t->want_profile = "ad";
	}
	if (t->uri == NULL || t->ldaps_uri == NULL || t->base == NULL || t->cacert == NULL ||
	    t->admin_dn == NULL || t->admin_pw == NULL || t->reader_dn == NULL ||
	    t->reader_pw == NULL || t->writer_dn == NULL || t->writer_pw == NULL ||
	    t->partners == NULL || (strcmp(kind, "slapd") == 0 && t->ldapi_uri == NULL)) {
		failed++;
		fprintf(stderr, "FAIL [%s] %s='%s' lacks a variable\n", kind, var, path);
		return -1;
	}
	return 0;
}

int main(void)
{
	struct env slapd_env, ad_env;
	struct target slapd, ad;
	int i;

	verbose = getenv("SMIMEPUB_TEST_VERBOSE") != NULL;
	memset(&slapd_env, 0, sizeof(slapd_env));
	memset(&ad_env, 0, sizeof(ad_env));
	if (make_certs() != 0) {
		fprintf(stderr, "cannot make test certificates\n");
		return 1;
	}
	test_offline();
	if (load_target(&slapd, &slapd_env, "SMIMEPUB_SLAPD_ENV", "slapd") == 0)
		test_server(&slapd);
	if (load_target(&ad, &ad_env, "SMIMEPUB_AD_ENV", "ad") == 0)
		test_server(&ad);
	env_free(&slapd_env);
	env_free(&ad_env);
	unlink(unknown_ca);
	for (i = 0; i < NCERTS; i++)
		OPENSSL_free(certs[i].bv_val);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
