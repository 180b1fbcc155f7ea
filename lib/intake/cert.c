/* The facts and problems of one certificate (SPEC §3): addresses, purposes, key, chain. */
#include "smimepub/cert.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define SMTPUTF8_MAILBOX_OID "1.3.6.1.5.5.7.8.9"

/* ---- Problems ---------------------------------------------------------------------------- */

/* Appends a problem (see cert.h). */
int smp_certinfo_add_problem(smp_certinfo *ci, const char *code, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (ci == NULL)
		return SMP_ERR_INTERNAL;
	va_start(ap, fmt);
	r = smp_problems_vadd(&ci->problems, &ci->n_problems, code, SMP_REMEDY_NONE, fmt, ap);
	va_end(ap);
	return r;
}

/* Appends a problem with its remedy (see cert.h). */
int smp_certinfo_add_problem_with(smp_certinfo *ci, const char *code, smp_remedy remedy,
				  const char *fmt, ...)
{
	va_list ap;
	int r;

	if (ci == NULL)
		return SMP_ERR_INTERNAL;
	va_start(ap, fmt);
	r = smp_problems_vadd(&ci->problems, &ci->n_problems, code, remedy, fmt, ap);
	va_end(ap);
	return r;
}

/* The problem with that code, or NULL. */
const smp_problem *smp_certinfo_problem(const smp_certinfo *ci, const char *code)
{
	if (ci == NULL || code == NULL)
		return NULL;
	for (size_t i = 0; i < ci->n_problems; i++)
		if (strcmp(ci->problems[i].code, code) == 0)
			return &ci->problems[i];
	return NULL;
}

/* Highest severity among the problems. */
smp_severity smp_certinfo_worst(const smp_certinfo *ci)
{
	smp_severity w = SMP_SEV_NONE;

	if (ci == NULL)
		return w;
	for (size_t i = 0; i < ci->n_problems; i++)
		if (ci->problems[i].severity > w)
			w = ci->problems[i].severity;
	return w;
}

/* Whether ci lists addr: 1, 0 or -1 (out of memory). */
int smp_certinfo_has_email(const smp_certinfo *ci, const char *addr)
{
	char *norm = NULL;
	int found = 0, r;

	if (ci == NULL || addr == NULL)
		return 0;
	if ((r = smp_address_normalize(&norm, addr, strlen(addr), NULL)) != 0)
		return r == SMP_ERR_NOMEM ? -1 : 0;
	for (size_t i = 0; i < ci->n_emails && !found; i++)
		found = smp_address_equal(ci->emails[i], norm);
	free(norm);
	return found;
}

/* Frees ci (NULL is fine). */
void smp_certinfo_free(smp_certinfo *ci)
{
	if (ci == NULL)
		return;
	X509_free(ci->x509);
	free(ci->subject);
	free(ci->issuer);
	free(ci->issuer_cn);
	free(ci->serial);
	for (size_t i = 0; i < ci->n_emails; i++)
		free(ci->emails[i]);
	free(ci->emails);
	free(ci->signature);
	free(ci->aia_ca_issuers);
	smp_problems_free(ci->problems, ci->n_problems);
	for (size_t i = 0; i < ci->n_chain; i++) {
		free(ci->chain[i].subject);
		free(ci->chain[i].name);
		free(ci->chain[i].file);
	}
	free(ci->chain);
	free(ci);
}

/* ---- Text helpers ------------------------------------------------------------------------- */

/* Printable copy of bytes; see escape_bytes and escape_name. */
static char *escape_text(const unsigned char *s, size_t n, int dn)
{
	char *out, *o;

	if ((out = malloc(n * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t l = 1;

		if (c >= 0x80) {
			/* Copy a well-formed multi-byte sequence; escape anything else. */
			if (c >= 0xc2 && c <= 0xf4) {
				l = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
				if (i + l > n)
					l = 0;
				for (size_t k = 1; k < l; k++)
					if ((s[i + k] & 0xc0) != 0x80)
						l = 0;
			} else {
				l = 0;
			}
			if (l > 0) {
				memcpy(o, s + i, l);
				o += l;
				i += l;
				continue;
			}
			l = 1;
		}
		if (c < 0x20 || c == 0x7f || c >= 0x80 || (c == '\\' && !dn))
			o += snprintf(o, 5, dn ? "\\%02X" : "\\x%02x", c);
		else
			*o++ = (char)c;
		i += l;
	}
	*o = '\0';
	return out;
}

/*
 * Printable copy of bytes: control characters and invalid UTF-8 become \xNN, and so does
 * '\' itself, so the escapes are unambiguous.
 */
static char *escape_bytes(const unsigned char *s, size_t n)
{
	return escape_text(s, n, 0);
}

/*
 * escape_bytes for a name OpenSSL wrote in RFC 2253 form: there '\' already escapes
 * ("CN=Smith\, John"), so it stays as it is (escaping it again showed "Smith\x5c, John"),
 * and what else needs escaping becomes RFC 4514's hex pair (\0A): the text stays a DN string
 * that reads back as the name.
 */
static char *escape_name(const unsigned char *s, size_t n)
{
	return escape_text(s, n, 1);
}

/*
 * What a thread keeps between certificates: a memory BIO for names and the last issuer's texts
 * (issuer_texts). Freed when the thread ends (a server's request thread does, unlike the
 * command's one thread), hence a key with a destructor rather than __thread variables.
 */
struct thread_cache {
	BIO *bio;
	unsigned char *der;
	size_t len;
	char *text, *cn;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

static void cache_free(void *p)
{
	struct thread_cache *c = p;

	BIO_free(c->bio);
	free(c->der);
	free(c->text);
	free(c->cn);
	free(c);
}

static void cache_key_make(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

/* This thread's cache, or NULL when there is no memory for one. */
static struct thread_cache *thread_cache(void)
{
	struct thread_cache *c;

	if (pthread_once(&cache_once, cache_key_make) != 0 || !cache_key_ok)
		return NULL;
	if ((c = pthread_getspecific(cache_key)) != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) != NULL && pthread_setspecific(cache_key, c) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

/* Name in RFC 2253 form, UTF-8 kept, or NULL. One memory BIO per thread, emptied each time. */
static char *name_text(const X509_NAME *name)
{
	struct thread_cache *c = thread_cache();
	char *data = NULL, *res = NULL;
	BIO *bio;
	long n;

	if (name == NULL || c == NULL || (c->bio == NULL && (c->bio = BIO_new(BIO_s_mem())) == NULL))
		return NULL;
	bio = c->bio;
	(void)BIO_reset(bio);
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(bio, &data)) >= 0)
		res = escape_name((const unsigned char *)data, (size_t)n);
	if (res == NULL) {
		ERR_clear_error();
		res = strdup("(unprintable name)");
	}
	return res;
}

/* The bytes of a directory string, converted to UTF-8 when it is not an 8-bit type. */
static int string_bytes(const ASN1_STRING *s, unsigned char **conv, const unsigned char **data,
			size_t *len)
{
	int n;

	*conv = NULL;
	switch (ASN1_STRING_type(s)) {
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_VISIBLESTRING:
		*data = ASN1_STRING_get0_data(s);
		*len = (size_t)ASN1_STRING_length(s);
		return 0;
	default:
		n = ASN1_STRING_to_UTF8(conv, s);
		if (n < 0) {
			ERR_clear_error();
			*data = ASN1_STRING_get0_data(s);
			*len = (size_t)ASN1_STRING_length(s);
			return -1;
		}
		*data = *conv;
		*len = (size_t)n;
		return 0;
	}
}

/* First CN of name as printable text, or NULL when there is none. */
static char *name_cn(const X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *conv = NULL;
	const unsigned char *data;
	size_t len;
	char *res;

	if (i < 0)
		return NULL;
	string_bytes(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)), &conv, &data, &len);
	res = escape_bytes(data, len);
	OPENSSL_free(conv);
	return res;
}

static int asn1_time_to_time(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (a == NULL || !ASN1_TIME_to_tm(a, &tm)) {
		ERR_clear_error();
		return -1;
	}
	*out = timegm(&tm);
	return 0;
}

static const char *fmt_time(char buf[32], time_t t)
{
	smp_format_time(buf, 32, t);
	return buf;
}

/* ---- Addresses ---------------------------------------------------------------------------- */

/* Normalises one candidate address; a bad one becomes a `bad_address` problem. */
static int add_candidate(smp_certinfo *ci, const unsigned char *data, size_t len,
			 const char *where)
{
	smp_error e = SMP_ERROR_INIT;
	char *norm = NULL, *shown = NULL, **nv;
	int r;

	r = smp_address_normalize(&norm, (const char *)data, len, &e);
	if (r == SMP_ERR_NOMEM)
		return r;
	if (r != 0) {
		if ((shown = escape_bytes(data, len)) == NULL)
			return SMP_ERR_NOMEM;
		r = smp_certinfo_add_problem(ci, "bad_address",
					     "address '%s' in the %s is not usable (%s): it is ignored "
					     "for matching; ask the partner for a certificate that names "
					     "a plain mailbox address", shown, where, e.msg);
		free(shown);
		return r;
	}
	for (size_t i = 0; i < ci->n_emails; i++) {
		if (smp_address_equal(ci->emails[i], norm)) {
			free(norm);
			return 0;
		}
	}
	if ((nv = realloc(ci->emails, (ci->n_emails + 1) * sizeof(*nv))) == NULL) {
		free(norm);
		return SMP_ERR_NOMEM;
	}
	ci->emails = nv;
	ci->emails[ci->n_emails++] = norm;
	return 0;
}

static int is_smtputf8_oid(const ASN1_OBJECT *obj)
{
	char buf[64];

	if (obj == NULL || OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0)
		return 0;
	return strcmp(buf, SMTPUTF8_MAILBOX_OID) == 0;
}

/* SAN rfc822Name and SmtpUTF8Mailbox, then subject E=, then (flagged) the subject CN. */
static int collect_addresses(smp_certinfo *ci, X509 *x)
{
	GENERAL_NAMES *san = NULL;
	const X509_NAME *subj = X509_get_subject_name(x);
	size_t candidates = 0;
	int r = 0, i;

	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; san != NULL && i < sk_GENERAL_NAME_num(san) && r == 0; i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);

		if (gn->type == GEN_EMAIL) {
			candidates++;
			r = add_candidate(ci, ASN1_STRING_get0_data(gn->d.rfc822Name),
					  (size_t)ASN1_STRING_length(gn->d.rfc822Name),
					  "subjectAltName");
		} else if (gn->type == GEN_OTHERNAME && is_smtputf8_oid(gn->d.otherName->type_id)) {
			ASN1_TYPE *v = gn->d.otherName->value;

			candidates++;
			if (v == NULL || v->type != V_ASN1_UTF8STRING) {
				r = smp_certinfo_add_problem(ci, "bad_address",
							     "SmtpUTF8Mailbox in the subjectAltName is "
							     "not a UTF8String: it is ignored; ask the "
							     "partner for a correctly issued certificate");
				continue;
			}
			r = add_candidate(ci, ASN1_STRING_get0_data(v->value.utf8string),
					  (size_t)ASN1_STRING_length(v->value.utf8string),
					  "subjectAltName (SmtpUTF8Mailbox)");
		}
	}
	GENERAL_NAMES_free(san);
	ERR_clear_error();
	for (i = -1; r == 0 && (i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0;) {
		unsigned char *conv = NULL;
		const unsigned char *data;
		size_t len;

		candidates++;
		string_bytes(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)), &conv, &data,
			     &len);
		r = add_candidate(ci, data, len, "subject emailAddress (E=)");
		OPENSSL_free(conv);
	}
	if (r != 0 || candidates > 0)
		return r;
	for (i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
		unsigned char *conv = NULL;
		const unsigned char *data;
		size_t len;
		char *norm = NULL;

		string_bytes(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)), &conv, &data,
			     &len);
		if (smp_address_normalize(&norm, (const char *)data, len, NULL) == 0) {
			OPENSSL_free(conv);
			if ((ci->emails = malloc(sizeof(*ci->emails))) == NULL) {
				free(norm);
				return SMP_ERR_NOMEM;
			}
			ci->emails[0] = norm;
			ci->n_emails = 1;
			ci->address_from_cn = 1;
			return smp_certinfo_add_problem(ci, "address_from_cn",
							"address '%s' was taken from the subject CN "
							"(no subjectAltName email, no E=): some mail "
							"clients will not find it; prefer a certificate "
							"with the address in subjectAltName", norm);
		}
		OPENSSL_free(conv);
	}
	return 0;
}

/* ---- Key, purposes, signature ------------------------------------------------------------- */

static int key_facts(smp_certinfo *ci, X509 *x, uint32_t *enc_bits, int *can_sign_alg)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const char *type = "unknown";

	*enc_bits = KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT;
	*can_sign_alg = 1;
	ERR_clear_error();
	if (pk == NULL) {
		snprintf(ci->key_type, sizeof(ci->key_type), "%s", type);
		return smp_certinfo_add_problem(ci, "malformed",
						"public key cannot be decoded: the certificate is "
						"damaged or uses an unsupported algorithm; ask the "
						"partner for a standard RSA or EC certificate");
	}
	ci->key_bits = EVP_PKEY_get_bits(pk);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		type = "RSA";
		*enc_bits = KU_KEY_ENCIPHERMENT;
		break;
	case EVP_PKEY_RSA_PSS:
		type = "RSA-PSS";
		*enc_bits = 0;
		break;
	case EVP_PKEY_EC:
		type = "EC";
		*enc_bits = KU_KEY_AGREEMENT;
		break;
	case EVP_PKEY_DSA:
		type = "DSA";
		*enc_bits = 0;
		break;
	case EVP_PKEY_DH:
	case EVP_PKEY_DHX:
		type = "DH";
		*enc_bits = KU_KEY_AGREEMENT;
		*can_sign_alg = 0;
		break;
	case EVP_PKEY_ED25519:
		type = "Ed25519";
		*enc_bits = 0;
		break;
	case EVP_PKEY_ED448:
		type = "Ed448";
		*enc_bits = 0;
		break;
	case EVP_PKEY_X25519:
		type = "X25519";
		*enc_bits = KU_KEY_AGREEMENT;
		*can_sign_alg = 0;
		break;
	case EVP_PKEY_X448:
		type = "X448";
		*enc_bits = KU_KEY_AGREEMENT;
		*can_sign_alg = 0;
		break;
	default:
		break;
	}
	snprintf(ci->key_type, sizeof(ci->key_type), "%s", type);
	if (((strcmp(type, "RSA") == 0 || strcmp(type, "RSA-PSS") == 0 ||
	      strcmp(type, "DSA") == 0 || strcmp(type, "DH") == 0) && ci->key_bits < 2048) ||
	    (strcmp(type, "EC") == 0 && ci->key_bits < 256))
		return smp_certinfo_add_problem(ci, "weak_key",
						"%s key of %d bits is too weak: ask the partner for a "
						"certificate with %s", type, ci->key_bits,
						strcmp(type, "EC") == 0 ? "an EC key of at least 256 bits"
						: "a key of at least 2048 bits");
	return 0;
}

static int purpose_facts(smp_certinfo *ci, X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);
	uint32_t ku = X509_get_key_usage(x);
	uint32_t enc_bits;
	int sign_alg, r;

	if ((r = key_facts(ci, x, &enc_bits, &sign_alg)) != 0)
		return r;
	if (!(flags & EXFLAG_KUSAGE))
		ku = UINT32_MAX;
	ci->email_protection = 1;
	if (flags & EXFLAG_XKUSAGE)
		ci->email_protection = (X509_get_extended_key_usage(x) & (XKU_SMIME | XKU_ANYEKU)) != 0;
	ci->can_encrypt = ci->email_protection && (ku & enc_bits) != 0;
	ci->can_sign = ci->email_protection && sign_alg &&
		       (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) != 0;
	ci->is_ca = (flags & EXFLAG_CA) != 0;
	if (flags & EXFLAG_INVALID) {
		ci->can_encrypt = ci->can_sign = 0;
		if ((r = smp_certinfo_add_problem(ci, "malformed",
						  "certificate has an invalid or repeated extension: "
						  "clients will reject it; ask the partner for a "
						  "correctly issued certificate")) != 0)
			return r;
	}
	if (!ci->email_protection) {
		if ((r = smp_certinfo_add_problem(ci, "no_email_protection",
						  "extended key usage does not allow e-mail "
						  "(emailProtection missing): it cannot be used for "
						  "S/MIME; ask the partner for an S/MIME certificate")) != 0)
			return r;
	} else if (!ci->can_encrypt) {
		if ((r = smp_certinfo_add_problem(ci, "no_encryption",
						  "key usage does not allow encryption (%s): mail "
						  "cannot be encrypted to it; ask the partner for their "
						  "encryption certificate", ci->can_sign ?
						  "a signing-only certificate" :
						  "neither signing nor encryption")) != 0)
			return r;
	}
	if (ci->is_ca &&
	    (r = smp_certinfo_add_problem(ci, "is_ca",
					  "certificate is a CA certificate (basicConstraints CA:TRUE), "
					  "not a person's: publish the person's own certificate "
					  "instead")) != 0)
		return r;
	return 0;
}

static int signature_facts(smp_certinfo *ci, X509 *x)
{
	const ASN1_BIT_STRING *sig = NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	char buf[128];
	int mdnid = NID_undef, pknid = NID_undef, secbits = 0;
	uint32_t sflags = 0;
	const char *md = NULL;

	X509_get0_signature(&sig, &alg, x);
	if (alg != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if (obj == NULL || OBJ_obj2txt(buf, sizeof(buf), obj, 0) <= 0)
		snprintf(buf, sizeof(buf), "unknown");
	if ((ci->signature = strdup(buf)) == NULL)
		return SMP_ERR_NOMEM;
	if (!X509_get_signature_info(x, &mdnid, &pknid, &secbits, &sflags)) {
		ERR_clear_error();
		return 0;
	}
	switch (mdnid) {
	case NID_md2:
		md = "MD2";
		break;
	case NID_md4:
		md = "MD4";
		break;
	case NID_md5:
	case NID_md5_sha1:
		md = "MD5";
		break;
	case NID_sha1:
		md = "SHA-1";
		break;
	default:
		return 0;
	}
	return smp_certinfo_add_problem(ci, "weak_signature",
					"certificate is signed with %s (%s), which mail clients reject "
					"or will soon: ask the partner for a certificate signed with "
					"SHA-256 or better", md, buf);
}

static char *aia_ca_issuers(X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	char *res = NULL;

	for (int i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia) && res == NULL; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);

		if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers && ad->location->type == GEN_URI)
			res = escape_bytes(ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier),
					   (size_t)ASN1_STRING_length(ad->location->d.uniformResourceIdentifier));
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	ERR_clear_error();
	return res;
}

/* ---- Validity ------------------------------------------------------------------------------ */

static int validity_facts(smp_certinfo *ci, X509 *x, const smp_trust *trust)
{
	time_t now = smp_trust_time(trust);
	long long warn = (long long)smp_trust_warn_days(trust) * 86400;
	long long crit = (long long)smp_trust_crit_days(trust) * 86400;
	char b1[32];
	int ok_nb, ok_na;

	ok_nb = asn1_time_to_time(X509_get0_notBefore(x), &ci->not_before) == 0;
	ok_na = asn1_time_to_time(X509_get0_notAfter(x), &ci->not_after) == 0;
	if (!ok_nb || !ok_na)
		return smp_certinfo_add_problem(ci, "malformed",
						"validity dates cannot be decoded: the certificate is "
						"damaged; ask the partner for a fresh copy");
	if (now > ci->not_after)
		return smp_certinfo_add_problem(ci, "expired",
						"certificate expired on %s: ask the partner for their "
						"current certificate", fmt_time(b1, ci->not_after));
	if (now < ci->not_before)
		return smp_certinfo_add_problem(ci, "not_yet_valid",
						"certificate is not valid before %s: publish it then, "
						"or ask the partner whether it was issued with a wrong "
						"date", fmt_time(b1, ci->not_before));
	/* days from now, as the monitoring thresholds count them */
	if (crit > 0 && (long long)(ci->not_after - now) < crit)
		return smp_certinfo_add_problem(ci, "expiring_soon",
						"certificate expires on %s (in %lld days): replace it "
						"now, ask the partner for its successor",
						fmt_time(b1, ci->not_after),
						(long long)(ci->not_after - now) / 86400);
	if (warn > 0 && (long long)(ci->not_after - now) < warn)
		return smp_certinfo_add_problem(ci, "expiring",
						"certificate expires on %s (in %lld days): ask the "
						"partner for its successor",
						fmt_time(b1, ci->not_after),
						(long long)(ci->not_after - now) / 86400);
	return 0;
}

/* ---- Chain ------------------------------------------------------------------------------- */

struct verify_state {
	int err;
	int depth;
	X509 *cert;   /* owned reference to the certificate the error is about */
	int revoked;
};

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct verify_state *st = X509_STORE_CTX_get_app_data(ctx);
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur;

	if (ok || st == NULL)
		return ok;
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_INVALID_EXTENSION:
		/* The leaf's own dates, usages and extensions are reported from the leaf. */
		if (depth == 0)
			return 1;
		break;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
	case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
		/* A CRL that does not cover this certificate: revocation stays unknown. */
		return 1;
	case X509_V_ERR_CERT_REVOKED:
		if (depth == 0) {
			st->revoked = 1;
			return 1;
		}
		break;
	default:
		break;
	}
	if (st->err == 0) {
		st->err = err;
		st->depth = depth;
		cur = X509_STORE_CTX_get_current_cert(ctx);
		if (cur != NULL && X509_up_ref(cur))
			st->cert = cur;
	}
	return 0;
}

static int has_subject(STACK_OF(X509) *certs, const X509_NAME *name)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(certs, i)), name) == 0)
			return 1;
	return 0;
}

static const char *const crl_reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", "unknown", "removeFromCRL",
	"privilegeWithdrawn", "aACompromise",
};

static int report_revoked(smp_certinfo *ci, X509 *leaf, const smp_trust *trust)
{
	STACK_OF(X509_CRL) *crls = smp_trust_crls(trust);
	char when[32] = "an unknown date", reason[40] = "";
	char *crl_issuer = NULL;
	int r;

	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		X509_REVOKED *rev = NULL;
		ASN1_ENUMERATED *e;
		time_t t;

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(leaf)) != 0 ||
		    X509_CRL_get0_by_cert(crl, &rev, leaf) != 1 || rev == NULL)
			continue;
		if (asn1_time_to_time(X509_REVOKED_get0_revocationDate(rev), &t) == 0)
			smp_format_time(when, sizeof(when), t);
		e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
		if (e != NULL) {
			long v = ASN1_ENUMERATED_get(e);

			if (v >= 0 && (size_t)v < sizeof(crl_reasons) / sizeof(crl_reasons[0]))
				snprintf(reason, sizeof(reason), " (%s)", crl_reasons[v]);
			ASN1_ENUMERATED_free(e);
		}
		crl_issuer = name_cn(X509_CRL_get_issuer(crl));
		break;
	}
	ERR_clear_error();
	r = smp_certinfo_add_problem(ci, "revoked",
				     "certificate was revoked on %s%s according to the CRL of '%s': "
				     "do not use it; ask the partner for a new certificate", when,
				     reason, crl_issuer != NULL ? crl_issuer : ci->issuer_cn);
	free(crl_issuer);
	return r;
}

static int report_chain(smp_certinfo *ci, X509 *leaf, STACK_OF(X509) *untrusted,
			const struct verify_state *st)
{
	char *top_subject = NULL, *top_issuer = NULL, *top_aia = NULL;
	char when[32] = "an unknown date";
	time_t t;
	int r = SMP_ERR_INTERNAL;
	X509 *top = st->cert != NULL ? st->cert : leaf;

	top_subject = name_cn(X509_get_subject_name(top));
	if (top_subject == NULL)
		top_subject = name_text(X509_get_subject_name(top));
	top_issuer = name_cn(X509_get_issuer_name(top));
	if (top_issuer == NULL)
		top_issuer = name_text(X509_get_issuer_name(top));
	top_aia = aia_ca_issuers(top);
	if (top_subject == NULL || top_issuer == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	switch (st->err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		if (st->depth == 0 && !has_subject(untrusted, X509_get_issuer_name(leaf))) {
			if (ci->aia_ca_issuers != NULL)
				r = smp_certinfo_add_problem_with(ci, "missing_intermediate",
								  SMP_REMEDY_GIVE_INTERMEDIATE,
								  "issuer '%s' is not available: "
								  "download it from %s",
								  ci->issuer_cn, ci->aia_ca_issuers);
			else
				r = smp_certinfo_add_problem_with(ci, "missing_intermediate",
								  SMP_REMEDY_GIVE_INTERMEDIATE,
								  "issuer '%s' is not available: get "
								  "that CA certificate from the partner",
								  ci->issuer_cn);
		} else if (st->depth == 0) {
			r = smp_certinfo_add_problem_with(ci, "untrusted",
							  SMP_REMEDY_GIVE_INTERMEDIATE,
							  "issuer '%s' given does not match the key "
							  "that signed this certificate: get the right "
							  "CA certificate from the partner%s%s%s",
							  ci->issuer_cn,
						     ci->aia_ca_issuers ? " (" : "",
						     ci->aia_ca_issuers ? ci->aia_ca_issuers : "",
						     ci->aia_ca_issuers ? ")" : "");
		} else {
			r = smp_certinfo_add_problem_with(ci, "untrusted", SMP_REMEDY_GIVE_ANCHOR,
							  "issuer '%s' is not trusted here: get that "
							  "CA's root certificate '%s' from the "
							  "partner%s%s%s", ci->issuer_cn, top_issuer,
						     top_aia ? " (" : "", top_aia ? top_aia : "",
						     top_aia ? ")" : "");
		}
		break;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		r = smp_certinfo_add_problem_with(ci, "untrusted", SMP_REMEDY_GIVE_ANCHOR,
						  "issuer '%s' is not trusted here: its root '%s' is "
						  "not a trust anchor; get that CA's certificate from "
						  "the partner, check its fingerprint with them",
						  ci->issuer_cn, top_subject);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		r = smp_certinfo_add_problem_with(ci, "untrusted", SMP_REMEDY_GIVE_SELF_ANCHOR,
						  "certificate is self-signed and not trusted here: "
						  "only if the partner confirms its SHA-256 "
						  "fingerprint %s", ci->sha256);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		r = smp_certinfo_add_problem_with(ci, "untrusted", SMP_REMEDY_GIVE_ISSUER_ANCHOR,
						  "issuer '%s' is not trusted here: the chain ends "
						  "at '%s', whose issuer '%s' is not a trust anchor; "
						  "add that CA's certificate%s%s", ci->issuer_cn,
					     top_subject, top_issuer, top_aia ? " from " : "",
					     top_aia ? top_aia : "");
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (asn1_time_to_time(X509_get0_notAfter(top), &t) == 0)
			fmt_time(when, t);
		r = smp_certinfo_add_problem(ci, "untrusted",
					     "issuing CA certificate '%s' expired on %s: the chain is "
					     "not valid; ask the partner for that CA's current "
					     "certificate", top_subject, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		r = smp_certinfo_add_problem(ci, "untrusted",
					     "issuing CA certificate '%s' is not valid yet: the chain is "
					     "not valid; ask the partner for that CA's current "
					     "certificate", top_subject);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_INVALID_CA:
		r = smp_certinfo_add_problem(ci, "untrusted",
					     "issuing CA '%s' is not allowed to issue S/MIME "
					     "certificates (%s): clients will reject the chain; ask the "
					     "partner", top_subject,
					     X509_verify_cert_error_string(st->err));
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		r = smp_certinfo_add_problem(ci, "untrusted",
					     "signature of '%s' does not verify with its issuer's key: "
					     "the certificate is damaged or forged; ask the partner for "
					     "a fresh copy", top_subject);
		break;
	default:
		r = smp_certinfo_add_problem_with(ci, "untrusted", SMP_REMEDY_CHECK_TRUST,
						  "chain of trust fails at '%s': %s", top_subject,
						  X509_verify_cert_error_string(st->err));
		break;
	}
out:
	free(top_subject);
	free(top_issuer);
	free(top_aia);
	return r;
}

static void hex_digest(char out[65], const unsigned char md[32]);

static int in_stack(STACK_OF(X509) *certs, X509 *x)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (X509_cmp(sk_X509_value(certs, i), x) == 0)
			return 1;
	return 0;
}

/*
 * The CAs of the verified chain (index 1 on) into ci->chain, each with the sources that
 * provide it, so that a result can say where each came from and audit can tell what the
 * directory does not distribute. Returns 0 or SMP_ERR_NOMEM.
 */
static int chain_sources(smp_certinfo *ci, STACK_OF(X509) *chain, STACK_OF(X509) *extra,
			 const smp_trust *trust)
{
	const EVP_MD *sha = smp_trust_sha256(trust);
	int n = sk_X509_num(chain);

	if (n < 2)
		return 0;
	if ((ci->chain = calloc((size_t)n - 1, sizeof(*ci->chain))) == NULL)
		return SMP_ERR_NOMEM;
	for (int i = 1; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);
		smp_chain_ca *c = &ci->chain[ci->n_chain];
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		const char *file = NULL;

		ci->n_chain++;
		c->subject = name_text(X509_get_subject_name(x));
		c->name = name_cn(X509_get_subject_name(x));
		if (c->name == NULL && c->subject != NULL)
			c->name = strdup(c->subject);
		if (c->subject == NULL || c->name == NULL)
			return SMP_ERR_NOMEM;
		if (!X509_digest(x, sha != NULL ? sha : EVP_sha256(), md, &mdlen) || mdlen != 32) {
			ERR_clear_error();
			return SMP_ERR_NOMEM;
		}
		hex_digest(c->sha256, md);
		c->root = X509_self_signed(x, 0) == 1;
		c->anchor = i == n - 1;
		c->sources = smp_trust_source_of(trust, x, &file) |
			     (in_stack(extra, x) ? SMP_SOURCE_CARRIED : 0);
		if (file != NULL && (c->file = strdup(file)) == NULL)
			return SMP_ERR_NOMEM;
	}
	ERR_clear_error();
	return 0;
}

static int chain_facts(smp_certinfo *ci, X509 *leaf, STACK_OF(X509) *extra,
		       const smp_trust *trust, smp_error *err)
{
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *tu = smp_trust_untrusted(trust);
	STACK_OF(X509_CRL) *crls = smp_trust_crls(trust);
	X509_VERIFY_PARAM *param;
	struct verify_state st = { 0, 0, NULL, 0 };
	int r = SMP_ERR_INTERNAL, ok;

	if ((untrusted = sk_X509_new_null()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(extra); i++)
		if (sk_X509_push(untrusted, sk_X509_value(extra, i)) <= 0) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	for (int i = 0; i < sk_X509_num(tu); i++)
		if (sk_X509_push(untrusted, sk_X509_value(tu, i)) <= 0) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	if (!X509_STORE_CTX_init(ctx, smp_trust_store(trust), leaf, untrusted)) {
		r = smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot set up chain verification");
		goto out;
	}
	/*
	 * The S/MIME purpose checks the CAs; the leaf's own key usage and EKU are reported by
	 * purpose_facts, so verify_cb ignores INVALID_PURPOSE at depth 0.
	 */
	X509_STORE_CTX_set_purpose(ctx, ci->can_encrypt ? X509_PURPOSE_SMIME_ENCRYPT
				   : X509_PURPOSE_SMIME_SIGN);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, smp_trust_time(trust));
	X509_VERIFY_PARAM_set_auth_level(param, 0);
	if (crls != NULL) {
		X509_STORE_CTX_set0_crls(ctx, crls);
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);
	}
	X509_STORE_CTX_set_app_data(ctx, &st);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	ok = X509_verify_cert(ctx);
	/* a path that could not be built for lack of memory is not an untrusted certificate */
	if (ok < 0 || smp_openssl_out_of_memory() || st.err == X509_V_ERR_OUT_OF_MEM ||
	    X509_STORE_CTX_get_error(ctx) == X509_V_ERR_OUT_OF_MEM) {
		ERR_clear_error();
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	ERR_clear_error();
	ci->chain_ok = ok == 1 && st.err == 0 && !st.revoked;
	if (ci->chain_ok &&
	    chain_sources(ci, X509_STORE_CTX_get0_chain(ctx), extra, trust) != 0) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (st.revoked && (r = report_revoked(ci, leaf, trust)) != 0)
		goto out;
	if (ok != 1 || st.err != 0) {
		if (st.err == 0)
			st.err = X509_STORE_CTX_get_error(ctx);
		if (st.err == X509_V_OK)
			st.err = X509_V_ERR_UNSPECIFIED;
		if ((r = report_chain(ci, leaf, untrusted, &st)) != 0) {
			smp_error_set(err, r, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	X509_free(st.cert);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return r;
}

/* ---- Analysis ----------------------------------------------------------------------------- */

/* 32 digest bytes as lower-case hex into out (65 bytes). */
static void hex_digest(char out[65], const unsigned char md[32])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/*
 * The issuer's text and first CN (NULL when it has none), both the caller's to free: 0 or
 * SMP_ERR_NOMEM. Certificates of one CA share the issuer: the last name's texts are kept per
 * thread, keyed by its DER, so a directory's worth of them prints the name once.
 */
static int issuer_texts(const X509_NAME *name, char **text, char **cn)
{
	struct thread_cache *last = thread_cache();
	const unsigned char *der = NULL;
	size_t len = 0;

	*text = *cn = NULL;
	if (last == NULL)
		return SMP_ERR_NOMEM;
	if (!X509_NAME_get0_der(name, &der, &len))
		der = NULL;
	if (der == NULL || last->der == NULL || len != last->len ||
	    memcmp(der, last->der, len) != 0) {
		char *t = name_text(name), *c = name_cn(name);
		unsigned char *d = der != NULL ? malloc(len > 0 ? len : 1) : NULL;

		if (t == NULL || d == NULL) {
			free(d);
			*text = t;
			*cn = c;
			return t == NULL ? SMP_ERR_NOMEM : 0;
		}
		memcpy(d, der, len);
		free(last->der);
		free(last->text);
		free(last->cn);
		last->der = d;
		last->len = len;
		last->text = t;
		last->cn = c;
	}
	if ((*text = strdup(last->text)) == NULL ||
	    (last->cn != NULL && (*cn = strdup(last->cn)) == NULL))
		return SMP_ERR_NOMEM;
	return 0;
}

static int basic_facts(smp_certinfo *ci, X509 *x, const smp_trust *trust, const char *sha256)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	if ((ci->subject = name_text(X509_get_subject_name(x))) == NULL ||
	    issuer_texts(X509_get_issuer_name(x), &ci->issuer, &ci->issuer_cn) != 0)
		return SMP_ERR_NOMEM;
	if (ci->issuer_cn == NULL &&
	    (ci->issuer_cn = strdup(ci->issuer)) == NULL)
		return SMP_ERR_NOMEM;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		BN_free(bn);
		return SMP_ERR_NOMEM;
	}
	BN_free(bn);
	for (char *p = hex; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	ci->serial = strdup(hex);
	OPENSSL_free(hex);
	if (ci->serial == NULL)
		return SMP_ERR_NOMEM;
	if (sha256 != NULL) {
		memcpy(ci->sha256, sha256, sizeof(ci->sha256));
	} else {
		const EVP_MD *sha = smp_trust_sha256(trust);

		if (!X509_digest(x, sha != NULL ? sha : EVP_sha256(), md, &mdlen) || mdlen != 32)
			return SMP_ERR_INTERNAL;
		hex_digest(ci->sha256, md);
	}
	ci->aia_ca_issuers = aia_ca_issuers(x);
	return 0;
}

/* smp_cert_analyze, with the SHA-256 hex of leaf's DER when the caller has it (or NULL). */
static int analyze(smp_certinfo **out, X509 *leaf, STACK_OF(X509) *extra,
		   const smp_trust *trust, const char *sha256, smp_error *err)
{
	smp_certinfo *ci = NULL;
	int r = SMP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || leaf == NULL || trust == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_cert_analyze: null argument");
	if ((ci = calloc(1, sizeof(*ci))) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!X509_up_ref(leaf)) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot take a reference");
		goto out;
	}
	ci->x509 = leaf;
	if ((r = basic_facts(ci, leaf, trust, sha256)) != 0 || (r = collect_addresses(ci, leaf)) != 0) {
		smp_error_set(err, r, "cannot analyse the certificate: %s",
			      r == SMP_ERR_NOMEM ? "out of memory" : "internal error");
		goto out;
	}
	if (ci->n_emails == 0 &&
	    (r = smp_certinfo_add_problem(ci, "no_address",
					  "certificate holds no usable mailbox address: it cannot be "
					  "matched to a directory entry by address; ask the partner "
					  "for a certificate with their address in subjectAltName")) != 0)
		goto nomem;
	if ((r = validity_facts(ci, leaf, trust)) != 0 || (r = purpose_facts(ci, leaf)) != 0 ||
	    (r = signature_facts(ci, leaf)) != 0)
		goto nomem;
	if ((r = chain_facts(ci, leaf, extra, trust, err)) != 0)
		goto out;
	*out = ci;
	ci = NULL;
	r = 0;
	goto out;
nomem:
	smp_error_set(err, r, "cannot analyse the certificate: out of memory");
out:
	ERR_clear_error();
	smp_certinfo_free(ci);
	return r;
}

/* Collects facts and problems of leaf (see cert.h). *out is the caller's to free. */
int smp_cert_analyze(smp_certinfo **out, X509 *leaf, STACK_OF(X509) *extra,
		     const smp_trust *trust, smp_error *err)
{
	return analyze(out, leaf, extra, trust, NULL, err);
}

/* Hashes len bytes at der into 64 hex digits; 0 or SMP_ERR_INTERNAL (in err). */
static int sha256_hex(char out[65], const unsigned char *der, size_t len, const smp_trust *trust,
		      smp_error *err)
{
	const EVP_MD *sha = smp_trust_sha256(trust);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(der, len, md, &mdlen, sha != NULL ? sha : EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot hash the value");
	hex_digest(out, md);
	return 0;
}

/* Same, with the SHA-256 taken from leaf's encoding in der (see cert.h). */
int smp_cert_analyze_encoded(smp_certinfo **out, X509 *leaf, STACK_OF(X509) *extra,
			     const unsigned char *der, size_t len, const smp_trust *trust,
			     smp_error *err)
{
	char sha256[65];
	int r;

	if (out != NULL)
		*out = NULL;
	if (der == NULL || len == 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_cert_analyze_encoded: no encoding");
	if ((r = sha256_hex(sha256, der, len, trust, err)) != 0)
		return r;
	return analyze(out, leaf, extra, trust, sha256, err);
}

/* Parses one DER value that must be exactly one certificate; SMP_ERR_BADINPUT otherwise. */
static int parse_der(X509 **out, const unsigned char *der, size_t len, smp_error *err)
{
	const unsigned char *p = der;
	X509 *x;

	*out = NULL;
	if (len == 0)
		return smp_error_set(err, SMP_ERR_BADINPUT, "not a certificate: the value is empty");
	if (len > SMP_MAX_INPUT)
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "not a certificate: the value is larger than 16 MiB");
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL && smp_openssl_out_of_memory()) {
		ERR_clear_error();
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	if (x == NULL) {
		ERR_clear_error();
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "not a certificate: the %zu-byte value is not DER X.509", len);
	}
	if ((size_t)(p - der) != len) {
		X509_free(x);
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "not a certificate: %zu bytes follow the certificate",
				     len - (size_t)(p - der));
	}
	*out = x;
	return 0;
}

/* Same for one DER value (see cert.h). */
int smp_cert_analyze_der(smp_certinfo **out, const unsigned char *der, size_t len,
			 const smp_trust *trust, smp_error *err)
{
	X509 *x = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (der == NULL && len > 0))
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_cert_analyze_der: null argument");
	if ((r = parse_der(&x, der, len, err)) != 0)
		return r;
	r = analyze(out, x, NULL, trust, NULL, err);
	X509_free(x);
	return r;
}

/* Analyses one DER value and hashes its bytes once (see cert.h). */
int smp_cert_analyze_value(smp_certinfo **out, char sha256[65], const unsigned char *der,
			   size_t len, const smp_trust *trust, smp_error *err)
{
	unsigned char *enc = NULL;
	X509 *x = NULL;
	int r, n, canonical;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || sha256 == NULL || (der == NULL && len > 0))
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_cert_analyze_value: null argument");
	if ((r = sha256_hex(sha256, der, len, trust, err)) != 0)
		return r;
	if ((r = parse_der(&x, der, len, err)) != 0)
		return r;
	/* The certificate's fingerprint is over its DER: the value's bytes when they are DER. */
	n = i2d_X509(x, &enc);
	canonical = n > 0 && (size_t)n == len && memcmp(enc, der, len) == 0;
	OPENSSL_free(enc);
	ERR_clear_error();
	r = analyze(out, x, NULL, trust, canonical ? sha256 : NULL, err);
	X509_free(x);
	return r;
}
