/*
 * Unit tests: lib/compat, the OpenSSL 3.0 key-decoding workaround. Its own runner because the
 * switch is process-wide: the first test sees a process in which nobody asked for it (the
 * library must not switch it on by itself), later ones switch it on, from several threads at
 * once, check that keys decode identically, and switch it off again with its memory freed.
 * Over the generated test PKI ($SMIMEPUB_PKI), judged at T0 = 2026-06-01T00:00:00Z.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smimepub/cert.h"
#include "smimepub/compat.h"
#include "compat/ossl30_keys.h"

#define T0 ((time_t)1780272000)          /* 2026-06-01T00:00:00Z */
#define D_2026_01_01 ((time_t)1767225600)
#define D_2027_01_01 ((time_t)1798761600)

/* ---- Helpers ------------------------------------------------------------------------------ */

/* Whether this build and this OpenSSL should switch: compiled in, and 3.0.x at run time. */
static int expect_on(void)
{
#if defined(SMP_OPENSSL30_KEY_WORKAROUND) && !defined(OPENSSL_NO_ENGINE)
	return OPENSSL_version_major() == 3 && OPENSSL_version_minor() == 0;
#else
	return 0;
#endif
}

/* A key decoded through a provider (the default route) or legacy (through the workaround). */
static int is_provider_key(const EVP_PKEY *key)
{
	return EVP_PKEY_get0_provider(key) != NULL;
}

static const char *pki_path(const char *name)
{
	static char buf[4][4096];
	static int next;
	const char *dir = getenv("SMIMEPUB_PKI");
	char *p = buf[next++ % 4];

	if (dir == NULL || *dir == '\0')
		return NULL;
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static smp_trust *mk_trust(const char *ca, const char *untrusted)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;
	char cap[4096], up[4096];

	o.at = T0;
	o.use_system_store = 0;
	snprintf(cap, sizeof(cap), "%s", pki_path(ca));
	snprintf(up, sizeof(up), "%s", pki_path(untrusted));
	o.ca_file = cap;
	o.untrusted_file = up;
	if (smp_trust_new(&t, &o, &err) != 0)
		fail_msg("smp_trust_new: %s", err.msg);
	return t;
}

/*
 * The single leaf of a PKI file analysed under t; *provider (when not NULL) tells whether the
 * leaf's public key was decoded through a provider.
 */
static smp_certinfo *analyze_file(const char *name, const smp_trust *t, int *provider)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;
	smp_certinfo *ci = NULL;

	if (smp_bundle_read_file(&b, pki_path(name), &err) != 0)
		fail_msg("reading %s: %s", name, err.msg);
	assert_int_equal(smp_bundle_leaf_count(b), 1);
	if (smp_cert_analyze(&ci, smp_bundle_leaf(b, 0), smp_bundle_all(b), t, &err) != 0)
		fail_msg("analysing %s: %s", name, err.msg);
	if (provider != NULL)
		*provider = is_provider_key(X509_get0_pubkey(smp_bundle_leaf(b, 0)));
	smp_bundle_free(b);
	return ci;
}

/* RSA through the test root, EC through the partner's EC root: both verify, right facts. */
static void check_pki_leaves(int want_provider)
{
	smp_trust *rsa = mk_trust("root.pem", "intermediate.pem");
	smp_trust *ec = mk_trust("other-root.pem", "other-intermediate.pem");
	smp_certinfo *ci;
	int provider;

	ci = analyze_file("alice.pem", rsa, &provider);
	assert_true(ci->chain_ok);
	assert_string_equal(ci->key_type, "RSA");
	assert_int_equal(ci->key_bits, 2048);
	assert_int_equal(provider, want_provider);
	smp_certinfo_free(ci);
	ci = analyze_file("untrusted.pem", ec, &provider);
	assert_true(ci->chain_ok);
	assert_string_equal(ci->key_type, "EC");
	assert_int_equal(provider, want_provider);
	smp_certinfo_free(ci);
	/* a signature by the wrong issuer does not verify */
	ci = analyze_file("bob-ec.pem", ec, NULL);
	assert_false(ci->chain_ok);
	smp_certinfo_free(ci);
	smp_trust_free(rsa);
	smp_trust_free(ec);
}

/* SubjectPublicKeyInfo DER of a new key on curve, with the curve named or spelled out. */
static unsigned char *ec_spki(const char *curve, int explicit_params, int *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	unsigned char *der = NULL;

	assert_non_null(key);
	if (explicit_params)
		assert_int_equal(EVP_PKEY_set_utf8_string_param(key,
				 OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT), 1);
	*len = i2d_PUBKEY(key, &der);
	assert_true(*len > 0);
	EVP_PKEY_free(key);
	return der;
}

/* DER of a self-signed P-256 certificate for alice@partner.example. */
static unsigned char *ec_cert_der(int *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;

	assert_non_null(key);
	assert_non_null(x);
	assert_non_null(name);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)"alice@partner.example", -1, -1, 0), 1);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){ D_2026_01_01 }));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){ D_2027_01_01 }));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	*len = i2d_X509(x, &der);
	assert_true(*len > 0);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return der;
}

static EVP_PKEY *decode_spki(const unsigned char *der, int len)
{
	const unsigned char *p = der;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, len);

	assert_non_null(key);
	assert_ptr_equal(p, der + len);
	return key;
}

/* A P-384 SubjectPublicKeyInfo for test_release, made before the switch (see ec_cert_der). */
static unsigned char *p384_der;
static int p384_len;

/* Switching on from a thread; run by several at once. */
static void *switch_on(void *arg)
{
	smp_error err = SMP_ERROR_INIT;

	*(int *)arg = smp_compat_fast_key_decode(&err);
	return NULL;
}

/* ---- Tests -------------------------------------------------------------------------------- */

/*
 * Nobody asked (this runs first in a fresh process): building trust contexts and analysing
 * certificates leaves the workaround off, keys come from OpenSSL's provider, and all verifies.
 */
static void test_off_unless_asked(void **state)
{
	(void)state;
	p384_der = ec_spki("P-384", 0, &p384_len);
	if (pki_path("x") == NULL) {
		skip();
		return;
	}
	check_pki_leaves(1);
	assert_int_equal(smp_compat_fast_key_decode_on(), 0);
	assert_int_equal(smp_ossl30_keys_allocated(), 0);
	/* release without a switch does nothing */
	smp_compat_release();
	check_pki_leaves(1);
}

/*
 * Switched on from four threads at once, then twice more: keys decoded afterwards (named
 * curves in and outside the cache, explicit parameters) are the keys OpenSSL's provider
 * decodes, re-encode to the same bytes, print, and give the same facts in an analysis; chains
 * verify, RSA and EC alike.
 */
static void test_fast_key_decode(void **state)
{
	/* cached curves (named), explicit parameters, a named curve outside the cache */
	static const struct {
		const char *curve;
		int explicit_params, bits;
	} keys[] = {
		{ "P-256", 0, 256 }, { "P-256", 1, 256 }, { "P-384", 0, 384 },
		{ "brainpoolP256r1", 0, 256 }, { "brainpoolP384r1", 0, 384 },
		{ "secp256k1", 0, 256 },
	};
	enum { NKEYS = sizeof(keys) / sizeof(keys[0]), NTHREADS = 4 };
	smp_error err = SMP_ERROR_INIT;
	unsigned char *der[NKEYS], *cder;
	int len[NKEYS], clen, rs[NTHREADS];
	EVP_PKEY *before[NKEYS], *after[NKEYS];
	pthread_t th[NTHREADS];

	(void)state;
	/* made first: with the switch on, EC key generation goes to the legacy method */
	cder = ec_cert_der(&clen);
	for (int i = 0; i < NKEYS; i++) {
		der[i] = ec_spki(keys[i].curve, keys[i].explicit_params, &len[i]);
		before[i] = decode_spki(der[i], len[i]);
		assert_true(is_provider_key(before[i]));
	}

	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, switch_on, &rs[i]), 0);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(rs[i], 0);
	}
	assert_int_equal(smp_compat_fast_key_decode(&err), 0); /* once is enough, */
	assert_int_equal(smp_compat_fast_key_decode(&err), 0); /* more is harmless */
	assert_int_equal(smp_compat_fast_key_decode_on(), expect_on());

	for (int i = 0; i < NKEYS; i++) {
		unsigned char *enc = NULL;
		BIO *bio = BIO_new(BIO_s_mem());
		char *text = NULL, head[32];
		long n;

		after[i] = decode_spki(der[i], len[i]);
		assert_int_equal(is_provider_key(after[i]), !expect_on());
		assert_int_equal(EVP_PKEY_get_base_id(after[i]), EVP_PKEY_EC);
		assert_int_equal(EVP_PKEY_get_bits(after[i]), keys[i].bits);
		assert_int_equal(EVP_PKEY_get_size(after[i]), EVP_PKEY_get_size(before[i]));
		assert_int_equal(EVP_PKEY_eq(after[i], before[i]), 1);
		assert_int_equal(i2d_PUBKEY(after[i], &enc), len[i]);
		assert_memory_equal(enc, der[i], (size_t)len[i]);
		OPENSSL_free(enc);
		assert_non_null(bio);
		assert_int_equal(EVP_PKEY_print_public(bio, after[i], 0, NULL), 1);
		n = BIO_get_mem_data(bio, &text);
		assert_true(n > 0);
		snprintf(head, sizeof(head), "Public-Key: (%d bit)", keys[i].bits);
		assert_non_null(memmem(text, (size_t)n, head, strlen(head)));
		BIO_free(bio);
	}
	/* two different keys are not equal; a truncated point does not decode */
	assert_int_equal(EVP_PKEY_eq(after[0], after[1]), 0);
	{
		const unsigned char *p = der[0];

		assert_null(d2i_PUBKEY(NULL, &p, len[0] - 1));
		ERR_clear_error();
	}
	/* an EC certificate analysed after the switch: same key facts */
	if (pki_path("x") != NULL) {
		smp_trust *t = mk_trust("root.pem", "intermediate.pem");
		smp_certinfo *ci = NULL;

		assert_int_equal(smp_cert_analyze_der(&ci, cder, (size_t)clen, t, &err), 0);
		assert_string_equal(ci->key_type, "EC");
		assert_int_equal(ci->key_bits, 256);
		assert_true(ci->can_encrypt);
		smp_certinfo_free(ci);
		smp_trust_free(t);
		/* chains of RSA and of EC CAs, loaded after the switch, verify (a wrong one not) */
		check_pki_leaves(!expect_on());
	}
	for (int i = 0; i < NKEYS; i++) {
		EVP_PKEY_free(before[i]);
		EVP_PKEY_free(after[i]);
		OPENSSL_free(der[i]);
	}
	OPENSSL_free(cder);
}

/*
 * Released with a key decoded through it still alive: the key keeps working, new keys come
 * from the provider again, and once the key is freed nothing of the workaround is left.
 */
static void test_release(void **state)
{
	smp_error err = SMP_ERROR_INIT;
	unsigned char *der = p384_der, *enc = NULL;
	int len = p384_len;
	EVP_PKEY *kept, *fresh;
	BIO *bio = BIO_new(BIO_s_mem());

	(void)state;
	assert_non_null(bio);
	assert_non_null(der);
	assert_int_equal(smp_compat_fast_key_decode(&err), 0);
	kept = decode_spki(der, len);
	assert_int_equal(is_provider_key(kept), !expect_on());
	assert_int_equal(smp_ossl30_keys_allocated(), expect_on());

	smp_compat_release();
	assert_int_equal(smp_compat_fast_key_decode_on(), 0);
	/* the kept key holds the ENGINE, and with it the method it points to */
	assert_int_equal(smp_ossl30_keys_allocated(), expect_on());
	fresh = decode_spki(der, len);
	assert_true(is_provider_key(fresh));
	assert_int_equal(EVP_PKEY_eq(kept, fresh), 1);
	assert_int_equal(i2d_PUBKEY(kept, &enc), len);
	assert_memory_equal(enc, der, (size_t)len);
	assert_int_equal(EVP_PKEY_print_public(bio, kept, 0, NULL), 1);
	assert_int_equal(EVP_PKEY_get_bits(kept), 384);

	EVP_PKEY_free(kept);
	assert_int_equal(smp_ossl30_keys_allocated(), 0);
	/* released for good: again is harmless, and asking again does not switch it back on */
	smp_compat_release();
	assert_int_equal(smp_compat_fast_key_decode(&err), 0);
	assert_int_equal(smp_compat_fast_key_decode_on(), 0);
	if (pki_path("x") != NULL)
		check_pki_leaves(1);

	EVP_PKEY_free(fresh);
	OPENSSL_free(enc);
	OPENSSL_free(der);
	BIO_free(bio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* in this order: the switch is process-wide */
		cmocka_unit_test(test_off_unless_asked),
		cmocka_unit_test(test_fast_key_decode),
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
