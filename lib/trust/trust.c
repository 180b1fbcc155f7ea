/* Trust context: anchors, extra intermediates, CRLs and the moment of judgement; time parsing. */
#include "smimepub/cert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/ec.h>
#include <openssl/engine.h>
#endif

struct smp_trust {
	X509_STORE *store;
	STACK_OF(X509) *untrusted;  /* owned references */
	STACK_OF(X509_CRL) *crls;   /* owned references, NULL when no CRL was given */
	time_t at;
	int warn_days;
	EVP_MD *sha256;             /* fetched once: EVP_sha256() looks it up on every use */
};

static int load_ca_file(X509_STORE *store, const char *path, smp_error *err)
{
	smp_bundle *b = NULL;
	STACK_OF(X509) *all;
	int r;

	if ((r = smp_bundle_read_file(&b, path, err)) != 0)
		return r;
	all = smp_bundle_all(b);
	for (int i = 0; i < sk_X509_num(all); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(all, i))) {
			r = smp_error_openssl(err, SMP_ERR_BADINPUT,
					      "cannot use '%s' as trust anchors", path);
			break;
		}
	}
	smp_bundle_free(b);
	return r;
}

static int load_untrusted(STACK_OF(X509) *dst, const char *path, smp_error *err)
{
	smp_bundle *b = NULL;
	STACK_OF(X509) *all;
	int r;

	if ((r = smp_bundle_read_file(&b, path, err)) != 0)
		return r;
	all = smp_bundle_all(b);
	for (int i = 0; i < sk_X509_num(all); i++) {
		X509 *x = sk_X509_value(all, i);

		if (!X509_up_ref(x)) {
			r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot take a reference");
			break;
		}
		if (sk_X509_push(dst, x) <= 0) {
			X509_free(x);
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			break;
		}
	}
	smp_bundle_free(b);
	return r;
}

static int load_crls(STACK_OF(X509_CRL) *dst, const char *path, smp_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	int r;

	if ((r = smp_read_file(&data, &len, path, SMP_MAX_INPUT, err)) != 0)
		return r;
	r = SMP_ERR_INTERNAL;
	if (memmem(data, len, "-----BEGIN X509 CRL-----", 24) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_CRL_push(dst, crl) <= 0) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			crl = NULL;
		}
	} else {
		const unsigned char *p = data;

		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL) {
			if (sk_X509_CRL_push(dst, crl) <= 0) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			crl = NULL;
		}
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(dst) == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT,
				  "cannot read '%s': no CRL in it (PEM or DER X.509 CRL expected)",
				  path);
		goto out;
	}
	r = 0;
out:
	X509_CRL_free(crl);
	BIO_free(bio);
	free(data);
	return r;
}

/* Loads anchors, intermediates and CRLs (see cert.h). *out is the caller's to free. */
int smp_trust_new(smp_trust **out, const smp_trust_options *opts, smp_error *err)
{
	smp_trust *t = NULL;
	struct stat st;
	int r = SMP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || opts == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_trust_new: null argument");
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->store = X509_STORE_new()) == NULL ||
	    (t->untrusted = sk_X509_new_null()) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		r = smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot fetch SHA-256");
		goto out;
	}
	t->at = opts->at != 0 ? opts->at : time(NULL);
	t->warn_days = opts->warn_days < 0 ? 0 : opts->warn_days;
	if (opts->ca_file != NULL && (r = load_ca_file(t->store, opts->ca_file, err)) != 0)
		goto out;
	if (opts->ca_dir != NULL) {
		if (stat(opts->ca_dir, &st) != 0) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", opts->ca_dir,
					  strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = smp_error_set(err, SMP_ERR_NOFILE,
					  "cannot read '%s': not a directory (--ca-dir wants a "
					  "directory of hashed certificates; use --ca-file for a file)",
					  opts->ca_dir);
			goto out;
		}
		if (!X509_STORE_load_path(t->store, opts->ca_dir)) {
			r = smp_error_openssl(err, SMP_ERR_BADINPUT, "cannot use '%s' as trust anchors",
					      opts->ca_dir);
			goto out;
		}
	}
	if (opts->ca_file == NULL && opts->ca_dir == NULL && opts->use_system_store &&
	    !X509_STORE_set_default_paths(t->store)) {
		r = smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot load the system trust store");
		goto out;
	}
	if (opts->untrusted_file != NULL &&
	    (r = load_untrusted(t->untrusted, opts->untrusted_file, err)) != 0)
		goto out;
	if (opts->crl_file != NULL) {
		if ((t->crls = sk_X509_CRL_new_null()) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((r = load_crls(t->crls, opts->crl_file, err)) != 0)
			goto out;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	ERR_clear_error();
	smp_trust_free(t);
	return r;
}

/* The moment findings are judged at. */
time_t smp_trust_time(const smp_trust *t)
{
	return t == NULL ? 0 : t->at;
}

/* The `expiring` window in days. */
int smp_trust_warn_days(const smp_trust *t)
{
	return t == NULL ? 0 : t->warn_days;
}

/* The trust anchors, borrowed. */
X509_STORE *smp_trust_store(const smp_trust *t)
{
	return t == NULL ? NULL : t->store;
}

/* Extra intermediates from untrusted_file, borrowed (never NULL for a trust context). */
STACK_OF(X509) *smp_trust_untrusted(const smp_trust *t)
{
	return t == NULL ? NULL : t->untrusted;
}

/* CRLs from crl_file, borrowed, or NULL when none was given. */
STACK_OF(X509_CRL) *smp_trust_crls(const smp_trust *t)
{
	return t == NULL ? NULL : t->crls;
}

/* SHA-256, fetched once, borrowed. */
const EVP_MD *smp_trust_sha256(const smp_trust *t)
{
	return t == NULL ? NULL : t->sha256;
}

/* Frees t (NULL is fine). */
void smp_trust_free(smp_trust *t)
{
	if (t == NULL)
		return;
	EVP_MD_free(t->sha256);
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->untrusted, X509_free);
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	free(t);
}

/* ---- Fast public-key decoding under OpenSSL 3.0 ------------------------------------------- */

#ifndef OPENSSL_NO_ENGINE
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static const int legacy_key_nids[] = { EVP_PKEY_RSA, EVP_PKEY_EC };
static const int ec_asn1_nids[] = { EVP_PKEY_EC };

/*
 * The groups of the curves S/MIME certificates use, built once when the method is set up and
 * only read afterwards: OpenSSL's own EC decoder builds the group from the curve's parameters
 * for every key (a Montgomery set-up and two modular inverses, a fifth of an audit's CPU),
 * while a copy of a built group costs a few allocations.
 */
static const int cached_curves[] = {
	NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1,
	/* German S/MIME CAs issue keys on these */
	NID_brainpoolP256r1, NID_brainpoolP384r1, NID_brainpoolP512r1,
};
static EC_GROUP *ec_groups[sizeof(cached_curves) / sizeof(cached_curves[0])];
static EVP_PKEY_ASN1_METHOD *ec_ameth;

/* The built group of a named curve, borrowed, or NULL when it is not one of cached_curves. */
static const EC_GROUP *cached_group(int nid)
{
	for (size_t i = 0; i < sizeof(cached_curves) / sizeof(cached_curves[0]); i++)
		if (cached_curves[i] == nid)
			return ec_groups[i];
	return NULL;
}

/*
 * pub_decode for EC keys, as OpenSSL's own but with named-curve groups copied from the cache;
 * explicit parameters are decoded as they come. The point is decoded and checked by OpenSSL.
 */
static int ec_pub_decode(EVP_PKEY *pk, const X509_PUBKEY *pub)
{
	const unsigned char *p = NULL, *pm;
	int len, ptype;
	const void *pval;
	X509_ALGOR *alg;
	const EC_GROUP *group = NULL;
	EC_GROUP *own = NULL;
	EC_KEY *ec = NULL;
	int ok = 0;

	if (!X509_PUBKEY_get0_param(NULL, &p, &len, &alg, pub))
		return 0;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype == V_ASN1_OBJECT) {
		group = cached_group(OBJ_obj2nid(pval));
		if (group == NULL)
			group = own = EC_GROUP_new_by_curve_name(OBJ_obj2nid(pval));
	} else if (ptype == V_ASN1_SEQUENCE) {
		pm = ASN1_STRING_get0_data(pval);
		group = own = d2i_ECPKParameters(NULL, &pm, ASN1_STRING_length(pval));
	}
	/* EC_KEY_set_group takes a copy */
	if (group == NULL || (ec = EC_KEY_new()) == NULL || !EC_KEY_set_group(ec, group) ||
	    o2i_ECPublicKey(&ec, &p, len) == NULL || !EVP_PKEY_assign_EC_KEY(pk, ec))
		goto out;
	ec = NULL;
	ok = 1;
out:
	EC_KEY_free(ec);
	EC_GROUP_free(own);
	return ok;
}

/* ENGINE ASN.1-method callback: EC with ec_pub_decode, everything else as built in. */
static int ec_asn1_meths(ENGINE *e, EVP_PKEY_ASN1_METHOD **ameth, const int **nids, int nid)
{
	(void)e;
	if (ameth == NULL) {
		*nids = ec_asn1_nids;
		return 1;
	}
	*ameth = nid == EVP_PKEY_EC ? ec_ameth : NULL;
	return *ameth != NULL;
}

/*
 * EVP_PKEY_asn1_set_public sets all six public-key functions and OpenSSL has no getters for
 * its own, so the other five are here too, as OpenSSL's do them, through the public API.
 */
static int ec_pub_encode(X509_PUBKEY *pub, const EVP_PKEY *pk)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
	const EC_GROUP *group = ec != NULL ? EC_KEY_get0_group(ec) : NULL;
	ASN1_STRING *params = NULL;
	unsigned char *point = NULL;
	void *pval;
	int ptype, nid, len;

	if (group == NULL)
		return 0;
	if (EC_GROUP_get_asn1_flag(group) && (nid = EC_GROUP_get_curve_name(group)) != NID_undef) {
		ptype = V_ASN1_OBJECT;
		pval = OBJ_nid2obj(nid);
	} else {
		if ((params = ASN1_STRING_new()) == NULL ||
		    (len = i2d_ECParameters(ec, &params->data)) <= 0) {
			ASN1_STRING_free(params);
			return 0;
		}
		params->length = len;
		ptype = V_ASN1_SEQUENCE;
		pval = params;
	}
	if ((len = i2o_ECPublicKey(ec, &point)) <= 0 ||
	    !X509_PUBKEY_set0_param(pub, OBJ_nid2obj(EVP_PKEY_EC), ptype, pval, point, len)) {
		ASN1_STRING_free(params);
		OPENSSL_free(point);
		return 0;
	}
	return 1;
}

static int ec_pub_cmp(const EVP_PKEY *a, const EVP_PKEY *b)
{
	const EC_KEY *ka = EVP_PKEY_get0_EC_KEY(a), *kb = EVP_PKEY_get0_EC_KEY(b);
	const EC_GROUP *group = kb != NULL ? EC_KEY_get0_group(kb) : NULL;
	const EC_POINT *pa = ka != NULL ? EC_KEY_get0_public_key(ka) : NULL;
	const EC_POINT *pb = kb != NULL ? EC_KEY_get0_public_key(kb) : NULL;
	int r;

	if (group == NULL || pa == NULL || pb == NULL)
		return -2;
	r = EC_POINT_cmp(group, pa, pb, NULL);
	return r == 0 ? 1 : r == 1 ? 0 : -2;
}

static int ec_pkey_bits(const EVP_PKEY *pk)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);

	return ec != NULL && EC_KEY_get0_group(ec) != NULL ?
	       EC_GROUP_order_bits(EC_KEY_get0_group(ec)) : 0;
}

static int ec_pkey_size(const EVP_PKEY *pk)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);

	return ec != NULL ? ECDSA_size(ec) : 0;
}

static int ec_pub_print(BIO *out, const EVP_PKEY *pk, int indent, ASN1_PCTX *pctx)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
	unsigned char *point = NULL;
	size_t len;
	int ok;

	(void)pctx;
	if (ec == NULL || EC_KEY_get0_group(ec) == NULL)
		return 0;
	len = EC_KEY_key2buf(ec, EC_KEY_get_conv_form(ec), &point, NULL);
	ok = BIO_indent(out, indent, 128) &&
	     BIO_printf(out, "Public-Key: (%d bit)\n", ec_pkey_bits(pk)) > 0 &&
	     (len == 0 || (BIO_indent(out, indent, 128) && BIO_printf(out, "pub:\n") > 0 &&
			   ASN1_buf_print(out, point, len, indent + 4))) &&
	     ECPKParameters_print(out, EC_KEY_get0_group(ec), indent);
	OPENSSL_free(point);
	return ok;
}

/* A copy of OpenSSL's EC ASN.1 method with ec_pub_decode. Returns 1 or 0. */
static int make_ec_ameth(void)
{
	const EVP_PKEY_ASN1_METHOD *builtin = EVP_PKEY_asn1_find(NULL, EVP_PKEY_EC);

	for (size_t i = 0; i < sizeof(cached_curves) / sizeof(cached_curves[0]); i++)
		if ((ec_groups[i] = EC_GROUP_new_by_curve_name(cached_curves[i])) == NULL)
			return 0;
	if (builtin == NULL ||
	    (ec_ameth = EVP_PKEY_asn1_new(EVP_PKEY_EC, 0, "EC", "OpenSSL EC algorithm")) == NULL)
		return 0;
	EVP_PKEY_asn1_copy(ec_ameth, builtin);
	EVP_PKEY_asn1_set_public(ec_ameth, ec_pub_decode, ec_pub_encode, ec_pub_cmp, ec_pub_print,
				 ec_pkey_size, ec_pkey_bits);
	return 1;
}

/* ENGINE pkey-method callback: OpenSSL's own built-in methods for RSA and EC. */
static int legacy_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
	(void)e;
	if (pmeth == NULL) {
		*nids = legacy_key_nids;
		return (int)(sizeof(legacy_key_nids) / sizeof(legacy_key_nids[0]));
	}
	*pmeth = (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(nid);
	return *pmeth != NULL;
}

/* See cert.h. */
int smp_fast_key_decode(smp_error *err)
{
	static int done;
	ENGINE *e;
	int ok;

	if (done || OPENSSL_version_major() != 3 || OPENSSL_version_minor() != 0)
		return 0;
	if ((e = ENGINE_new()) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	ok = make_ec_ameth() && ENGINE_set_id(e, "smimepub-builtin-keys") &&
	     ENGINE_set_name(e, "OpenSSL's built-in RSA and EC key methods") &&
	     ENGINE_set_pkey_meths(e, legacy_pkey_meths) &&
	     ENGINE_set_pkey_asn1_meths(e, ec_asn1_meths) && ENGINE_add(e) &&
	     ENGINE_register_pkey_meths(e) && ENGINE_register_pkey_asn1_meths(e);
	ENGINE_free(e);
	if (!ok)
		return smp_error_openssl(err, SMP_ERR_INTERNAL,
					 "cannot register OpenSSL's built-in key methods");
	done = 1;
	return 0;
}

#pragma GCC diagnostic pop
#else
/* See cert.h. */
int smp_fast_key_decode(smp_error *err)
{
	(void)err;
	return 0;
}
#endif

/* ---- Time --------------------------------------------------------------------------------- */

/* n decimal digits at *p; advances *p. Returns -1 when they are not there. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Parses RFC 3339 or YYYY-MM-DD (see cert.h). */
int smp_parse_time(time_t *out, const char *text, smp_error *err)
{
	const char *p = text;
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, s = 0, off = 0;
	time_t t;

	if (out != NULL)
		*out = 0;
	if (out == NULL || text == NULL)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 0)
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	if (*p != '\0') {
		if (*p != 'T' && *p != 't' && *p != ' ')
			goto bad;
		p++;
		if ((h = digits(&p, 2)) < 0 || *p++ != ':' || (mi = digits(&p, 2)) < 0 ||
		    *p++ != ':' || (s = digits(&p, 2)) < 0)
			goto bad;
		if (h > 23 || mi > 59 || s > 60)
			goto bad;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				goto bad;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;

			if ((oh = digits(&p, 2)) < 0 || *p++ != ':' || (om = digits(&p, 2)) < 0 ||
			    oh > 23 || om > 59)
				goto bad;
			off = sign * (oh * 3600 + om * 60);
		} else {
			goto bad;
		}
		if (*p != '\0')
			goto bad;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if ((t = timegm(&tm)) == (time_t)-1)
		goto bad;
	*out = t - off;
	return 0;
bad:
	return smp_error_set(err, SMP_ERR_USAGE,
			     "invalid time '%s': use RFC 3339 (2026-06-01T12:00:00Z) or YYYY-MM-DD",
			     text != NULL ? text : "");
}

/* Formats t as RFC 3339 UTC into buf. */
void smp_format_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	if (buf == NULL || size == 0)
		return;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}
