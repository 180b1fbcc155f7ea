/*
 * OpenSSL 3.0 workaround: public keys of certificates decoded with OpenSSL's built-in key
 * methods instead of its provider decoders.
 *
 * Why: OpenSSL 3.0 builds an OSSL_DECODER context anew for every SubjectPublicKeyInfo it
 * decodes (d2i_X509 of a leaf: 56 % of an audit's instructions went there, 44 % in
 * OSSL_DECODER_CTX_new_for_pkey alone); 3.1 and later cache the decoders. When an ENGINE offers
 * a pkey method for a key's type, 3.0's x509_pubkey_decode takes the legacy path instead, so
 * this unit registers an ENGINE offering OpenSSL's own RSA and EC methods (EVP_PKEY_meth_find),
 * nothing of its own, plus a copy of the EC ASN.1 method whose pub_decode copies a group built
 * once per common curve instead of building one from the curve's parameters for every key
 * (EC_GROUP_new_by_curve_name_ex was 15 % of an audit's CPU, the copy 2 %). Keys are then
 * legacy keys with the same type, size and signature checks. Measured (bench/README.md,
 * "publish with built-in key decoding" and "Where the time goes"): d2i_X509 of the bench
 * certificates 7.3x faster (10,000 parses 2.37 s -> 0.32 s), inspect of 10,000 files
 * 2.30 s -> 0.92 s.
 *
 * Process-wide, so the library never switches it on by itself: a program that parses
 * certificates in bulk asks for it once, before it loads anything (src/main.c does). Only
 * OpenSSL 3.0.x at run time; compiled out where OpenSSL has no ENGINE API or when meson's
 * openssl30_key_workaround option is off (SMP_OPENSSL30_KEY_WORKAROUND undefined).
 *
 * Deletable once OpenSSL 3.0 is no longer supported: this file and ossl30_keys.h, the three
 * functions in include/smimepub/compat.h, their call in src/main.c, tests/unit/test_compat.c and
 * the meson option; nothing else depends on it.
 */
#include "smimepub/compat.h"
#include "compat/ossl30_keys.h"

#include <openssl/opensslconf.h> /* OPENSSL_NO_ENGINE, before it is tested */

#if defined(SMP_OPENSSL30_KEY_WORKAROUND) && !defined(OPENSSL_NO_ENGINE)

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* The ENGINE API is deprecated in 3.0; this file exists to use it there. */
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
/*
 * Built once inside install, only read afterwards (so threads may decode at once); freed with
 * the ENGINE, see engine_destroy.
 */
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

/*
 * The ENGINE's destroy function, which OpenSSL calls when the ENGINE's last reference goes,
 * right after it has freed ec_ameth (it frees every dynamic ASN.1 method the ENGINE's callback
 * hands out). Keys decoded through the ENGINE hold a reference to it, so this runs after the
 * last of them is freed: nothing can use the method or the groups any more.
 */
static int engine_destroy(ENGINE *e)
{
	(void)e;
	ec_ameth = NULL;
	for (size_t i = 0; i < sizeof(ec_groups) / sizeof(ec_groups[0]); i++) {
		EC_GROUP_free(ec_groups[i]);
		ec_groups[i] = NULL;
	}
	return 1;
}

static CRYPTO_ONCE install_once = CRYPTO_ONCE_STATIC_INIT;
static int install_ok;      /* written inside install_once only */
static ENGINE *engine;      /* our structural reference while registered; NULL once released */

/* Unregisters, removes and drops our reference to e (set up as far as install got). */
static void engine_drop(ENGINE *e, int added)
{
	ENGINE_unregister_pkey_meths(e);
	ENGINE_unregister_pkey_asn1_meths(e);
	if (added)
		ENGINE_remove(e);
	ENGINE_free(e); /* the last reference unless keys decoded through it are still alive */
}

/*
 * Builds the EC method and the groups and registers the ENGINE offering them. Runs once
 * (install_once); on failure frees what it built and leaves the reason in OpenSSL's queue.
 */
static void install(void)
{
	const EVP_PKEY_ASN1_METHOD *builtin;
	ENGINE *e;
	int added = 0;

	/* the callbacks first, so that from here on engine_destroy frees whatever is built */
	if ((e = ENGINE_new()) == NULL)
		return;
	if (!ENGINE_set_destroy_function(e, engine_destroy) ||
	    !ENGINE_set_pkey_meths(e, legacy_pkey_meths) ||
	    !ENGINE_set_pkey_asn1_meths(e, ec_asn1_meths))
		goto out;
	for (size_t i = 0; i < sizeof(cached_curves) / sizeof(cached_curves[0]); i++)
		if ((ec_groups[i] = EC_GROUP_new_by_curve_name(cached_curves[i])) == NULL)
			goto out;
	if ((builtin = EVP_PKEY_asn1_find(NULL, EVP_PKEY_EC)) == NULL ||
	    (ec_ameth = EVP_PKEY_asn1_new(EVP_PKEY_EC, 0, "EC", "OpenSSL EC algorithm")) == NULL)
		goto out;
	EVP_PKEY_asn1_copy(ec_ameth, builtin);
	EVP_PKEY_asn1_set_public(ec_ameth, ec_pub_decode, ec_pub_encode, ec_pub_cmp, ec_pub_print,
				 ec_pkey_size, ec_pkey_bits);
	if (!ENGINE_set_id(e, "smimepub-builtin-keys") ||
	    !ENGINE_set_name(e, "OpenSSL's built-in RSA and EC key methods") || !ENGINE_add(e))
		goto out;
	added = 1;
	/*
	 * Released inside OPENSSL_cleanup, whether the program calls it (src/main.c does) or
	 * OpenSSL's own atexit handler does: OPENSSL_cleanup runs these handlers before it tears
	 * down its ENGINE tables. A plain atexit handler would run after main's OPENSSL_cleanup,
	 * against a library already shut down.
	 */
	if (!ENGINE_register_pkey_meths(e) || !ENGINE_register_pkey_asn1_meths(e) ||
	    !OPENSSL_atexit(smp_compat_release))
		goto out;
	engine = e;
	install_ok = 1;
	return;
out:
	engine_drop(e, added);
}

/* See compat.h. */
int smp_compat_fast_key_decode(smp_error *err)
{
	/* 0x30000000 .. 0x300ffff0: 3.0.x, whatever the patch level */
	if ((OpenSSL_version_num() & 0xfff00000UL) != 0x30000000UL)
		return 0;
	if (!CRYPTO_THREAD_run_once(&install_once, install) || !install_ok)
		return smp_error_openssl(err, SMP_ERR_INTERNAL,
					 "cannot register OpenSSL's built-in key methods");
	return 0;
}

/* See compat.h. */
int smp_compat_fast_key_decode_on(void)
{
	return engine != NULL;
}

/* See compat.h. */
void smp_compat_release(void)
{
	ENGINE *e = engine;

	if (e == NULL)
		return;
	engine = NULL;
	engine_drop(e, 1);
}

/* See ossl30_keys.h. */
int smp_ossl30_keys_allocated(void)
{
	if (ec_ameth != NULL)
		return 1;
	for (size_t i = 0; i < sizeof(ec_groups) / sizeof(ec_groups[0]); i++)
		if (ec_groups[i] != NULL)
			return 1;
	return 0;
}

#pragma GCC diagnostic pop

#else /* compiled out: no ENGINE API, or -Dopenssl30_key_workaround=false */

/* See compat.h. */
int smp_compat_fast_key_decode(smp_error *err)
{
	(void)err;
	return 0;
}

/* See compat.h. */
int smp_compat_fast_key_decode_on(void)
{
	return 0;
}

/* See compat.h. */
void smp_compat_release(void)
{
}

/* See ossl30_keys.h. */
int smp_ossl30_keys_allocated(void)
{
	return 0;
}

#endif
