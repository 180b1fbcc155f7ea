/*
 * Unit tests: certificate intake, facts, problems and chain validation over the generated test
 * PKI (directory in $SMIMEPUB_PKI, see its MANIFEST.txt), judged at T0 = 2026-06-01T00:00:00Z;
 * plus time parsing, and bit-flip / truncation loops that must never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smimepub/cert.h"
#include "smimepub/clients.h"

#define T0 ((time_t)1780272000)          /* 2026-06-01T00:00:00Z */
#define D_2026_01_01 ((time_t)1767225600)
#define D_2027_01_01 ((time_t)1798761600)

/* ---- Helpers ------------------------------------------------------------------------------ */

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

/* Tests over the PKI skip when it is not there (meson always provides it). */
#define NEED_PKI() do { if (pki_path("x") == NULL) { skip(); return; } } while (0)

static unsigned char *slurp(const char *name, size_t *len)
{
	smp_error err = SMP_ERROR_INIT;
	unsigned char *data = NULL;

	if (smp_read_file(&data, len, pki_path(name), SMP_MAX_INPUT, &err) != 0)
		fail_msg("%s", err.msg);
	return data;
}

static smp_trust *mk_trust_full(const char *ca, const char *untrusted, const char *crl,
				int warn_days)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;
	char cap[4096], up[4096], cp[4096];

	o.at = T0;
	o.use_system_store = 0;
	o.warn_days = warn_days;
	if (ca != NULL)
		o.ca_file = strcpy(cap, pki_path(ca));
	if (untrusted != NULL)
		o.untrusted_file = strcpy(up, pki_path(untrusted));
	if (crl != NULL)
		o.crl_file = strcpy(cp, pki_path(crl));
	if (smp_trust_new(&t, &o, &err) != 0)
		fail_msg("smp_trust_new: %s", err.msg);
	assert_int_equal(smp_trust_time(t), T0);
	return t;
}

/* The MANIFEST's default: --ca-file root.pem --untrusted intermediate.pem, warn 30 days. */
static smp_trust *mk_trust(void)
{
	return mk_trust_full("root.pem", "intermediate.pem", NULL, 30);
}

static smp_bundle *read_bundle(const char *name)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;

	if (smp_bundle_read_file(&b, pki_path(name), &err) != 0)
		fail_msg("reading %s: %s", name, err.msg);
	assert_non_null(b);
	assert_true(smp_bundle_leaf_count(b) >= 1);
	return b;
}

/* Leaf i of file, analysed with the file's other certificates as intermediates. */
static smp_certinfo *analyze_leaf(const char *name, size_t i, const smp_trust *t)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = read_bundle(name);
	smp_certinfo *ci = NULL;

	assert_true(i < smp_bundle_leaf_count(b));
	if (smp_cert_analyze(&ci, smp_bundle_leaf(b, i), smp_bundle_all(b), t, &err) != 0)
		fail_msg("analysing %s: %s", name, err.msg);
	smp_bundle_free(b);
	assert_non_null(ci);
	return ci;
}

/* The single leaf of file under trust t. */
static smp_certinfo *analyze_with(const char *name, const smp_trust *t)
{
	smp_bundle *b = read_bundle(name);

	assert_int_equal(smp_bundle_leaf_count(b), 1);
	smp_bundle_free(b);
	return analyze_leaf(name, 0, t);
}

/* The single leaf of file under the default trust. */
static smp_certinfo *analyze(const char *name)
{
	smp_trust *t = mk_trust();
	smp_certinfo *ci = analyze_with(name, t);

	smp_trust_free(t);
	return ci;
}

/* The problems of ci are exactly the space-separated codes (any order). */
static void assert_problems(const smp_certinfo *ci, const char *codes)
{
	char buf[512], *save = NULL, *tok;
	size_t listed = 0;

	snprintf(buf, sizeof(buf), "%s", codes);
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		listed++;
		if (smp_certinfo_problem(ci, tok) == NULL)
			fail_msg("%s: expected problem '%s' is missing", ci->subject, tok);
	}
	for (size_t i = 0; i < ci->n_problems; i++) {
		snprintf(buf, sizeof(buf), " %s ", codes);
		char want[64];

		snprintf(want, sizeof(want), " %s ", ci->problems[i].code);
		if (strstr(buf, want) == NULL)
			fail_msg("%s: unexpected problem %s: %s", ci->subject, ci->problems[i].code,
				 ci->problems[i].message);
		assert_non_null(ci->problems[i].message);
		assert_true(strlen(ci->problems[i].message) > 10);
	}
	assert_int_equal(ci->n_problems, listed);
}

static void assert_message_has(const smp_certinfo *ci, const char *code, const char *text)
{
	const smp_problem *p = smp_certinfo_problem(ci, code);

	assert_non_null(p);
	if (strstr(p->message, text) == NULL)
		fail_msg("%s message '%s' does not contain '%s'", code, p->message, text);
}

/* The problem's remedy is the one wanted, and its message names no command-line flag. */
static void assert_remedy(const smp_certinfo *ci, const char *code, smp_remedy remedy)
{
	const smp_problem *p = smp_certinfo_problem(ci, code);

	assert_non_null(p);
	assert_int_equal(p->remedy, remedy);
	if (strstr(p->message, "--") != NULL)
		fail_msg("%s message '%s' names a flag", code, p->message);
}

static void assert_emails(const smp_certinfo *ci, size_t n, ...)
{
	va_list ap;

	assert_int_equal(ci->n_emails, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ci->emails[i], va_arg(ap, const char *));
	va_end(ap);
}

/* Reads memory and expects SMP_ERR_BADINPUT with why in the message. */
static void expect_bad_input(const void *data, size_t len, const char *why)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = (smp_bundle *)&err;
	int r = smp_bundle_read(&b, data, len, &err);

	assert_int_equal(r, SMP_ERR_BADINPUT);
	assert_null(b);
	assert_int_equal(err.code, SMP_ERR_BADINPUT);
	if (strstr(err.msg, why) == NULL)
		fail_msg("message '%s' does not contain '%s'", err.msg, why);
}

static void expect_bad_file(const char *name, const char *why)
{
	size_t len = 0;
	unsigned char *data = slurp(name, &len);

	expect_bad_input(data, len, why);
	free(data);
}

/* ---- Input formats ------------------------------------------------------------------------- */

static void check_alice(const char *name, int chain_in_file)
{
	smp_trust *t = mk_trust_full("root.pem", chain_in_file ? NULL : "intermediate.pem", NULL,
				     30);
	smp_certinfo *ci = analyze_with(name, t);
	smp_certinfo *ref = analyze("alice.pem");

	assert_string_equal(ci->sha256, ref->sha256);
	assert_emails(ci, 1, "alice@partner.example");
	assert_problems(ci, "");
	assert_true(ci->chain_ok);
	smp_certinfo_free(ci);
	smp_certinfo_free(ref);
	smp_trust_free(t);
}

static void test_format_der(void **state)
{
	(void)state;
	NEED_PKI();
	check_alice("alice.der", 0);
}

static void test_format_pem(void **state)
{
	(void)state;
	NEED_PKI();
	check_alice("alice.pem", 0);
}

static void test_format_bare_base64(void **state)
{
	(void)state;
	NEED_PKI();
	check_alice("alice.b64", 0);
}

static void test_format_pem_chain_with_junk(void **state)
{
	smp_bundle *b;

	(void)state;
	NEED_PKI();
	b = read_bundle("alice-chain.pem");
	assert_int_equal(sk_X509_num(smp_bundle_all(b)), 2);
	assert_int_equal(smp_bundle_leaf_count(b), 1);
	smp_bundle_free(b);
	/* The intermediate comes from the file: no --untrusted needed. */
	check_alice("alice-chain.pem", 1);
}

static void test_format_p7b_der_and_pem(void **state)
{
	smp_bundle *b;

	(void)state;
	NEED_PKI();
	b = read_bundle("alice.p7b");
	assert_int_equal(sk_X509_num(smp_bundle_all(b)), 2);
	assert_int_equal(smp_bundle_leaf_count(b), 1);
	smp_bundle_free(b);
	check_alice("alice.p7b", 1);
	check_alice("alice-p7b.pem", 1);
}

static void test_format_mixed_two_leaves(void **state)
{
	smp_trust *t;
	smp_certinfo *a, *bob;
	smp_bundle *b;

	(void)state;
	NEED_PKI();
	b = read_bundle("mixed.pem");
	assert_int_equal(sk_X509_num(smp_bundle_all(b)), 3);
	assert_int_equal(smp_bundle_leaf_count(b), 2);
	smp_bundle_free(b);
	t = mk_trust_full("root.pem", NULL, NULL, 30);
	a = analyze_leaf("mixed.pem", 0, t);
	bob = analyze_leaf("mixed.pem", 1, t);
	assert_emails(a, 1, "alice@partner.example");
	assert_emails(bob, 1, "Bob@partner.example");
	assert_problems(a, "");
	assert_problems(bob, "");
	smp_certinfo_free(a);
	smp_certinfo_free(bob);
	smp_trust_free(t);
}

static void test_format_der_trailing(void **state)
{
	size_t len = 0;
	unsigned char *data, *more;
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;

	(void)state;
	NEED_PKI();
	data = slurp("alice.der", &len);
	more = malloc(len + 3);
	assert_non_null(more);
	memcpy(more, data, len);
	/* A line end after the DER (saved by a text tool) is tolerated. */
	memcpy(more + len, "\r\n", 2);
	assert_int_equal(smp_bundle_read(&b, more, len + 2, &err), 0);
	smp_bundle_free(b);
	memcpy(more + len, "XYZ", 3);
	expect_bad_input(more, len + 3, "unexpected bytes");
	free(more);
	free(data);
}

/* Reads memory that must hold exactly alice.pem's certificate. */
static void expect_alice_in(const unsigned char *data, size_t len)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;
	smp_certinfo *ref = analyze("alice.pem");
	unsigned char *der = NULL;
	unsigned char *ref_der = NULL;
	int l1, l2;

	if (smp_bundle_read(&b, data, len, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(smp_bundle_leaf_count(b), 1);
	l1 = i2d_X509(smp_bundle_leaf(b, 0), &der);
	l2 = i2d_X509(ref->x509, &ref_der);
	assert_true(l1 > 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(der, ref_der, (size_t)l1);
	OPENSSL_free(der);
	OPENSSL_free(ref_der);
	smp_bundle_free(b);
	smp_certinfo_free(ref);
}

static void test_format_crlf_and_utf16(void **state)
{
	size_t len = 0, n = 0;
	unsigned char *pem, *conv;

	(void)state;
	NEED_PKI();
	pem = slurp("alice.pem", &len);
	conv = malloc(2 * len + 2);
	assert_non_null(conv);
	/* CRLF line ends. */
	for (size_t i = 0; i < len; i++) {
		if (pem[i] == '\n')
			conv[n++] = '\r';
		conv[n++] = pem[i];
	}
	expect_alice_in(conv, n);
	/* UTF-16LE with a byte order mark, as Windows PowerShell saves text. */
	n = 0;
	conv[n++] = 0xff;
	conv[n++] = 0xfe;
	for (size_t i = 0; i < len; i++) {
		conv[n++] = pem[i];
		conv[n++] = 0;
	}
	expect_alice_in(conv, n);
	/* UTF-16BE. */
	conv[0] = 0xfe;
	conv[1] = 0xff;
	for (size_t i = 0; i < len; i++) {
		conv[2 + 2 * i] = 0;
		conv[3 + 2 * i] = pem[i];
	}
	expect_alice_in(conv, n);
	/* A UTF-16 character outside ASCII cannot be PEM. */
	conv[3] = 0xe4;
	conv[2] = 0x00;
	conv[5] = 0x01;
	expect_bad_input(conv, n, "UTF-16");
	free(conv);
	free(pem);
}

/* ---- Bad inputs ------------------------------------------------------------------------------ */

static void test_bad_files(void **state)
{
	(void)state;
	NEED_PKI();
	expect_bad_file("garbage.bin", "not a certificate");
	expect_bad_file("truncated.der", "truncated DER");
	expect_bad_file("empty.pem", "empty");
	expect_bad_file("notcert.pem", "PEM block 1 (CERTIFICATE)");
	expect_bad_file("crl.pem", "none a CERTIFICATE");
	expect_bad_file("alice.key", "none a CERTIFICATE");
}

static void test_bad_memory_inputs(void **state)
{
	static const char damaged[] = "junk\n-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n"
				      "-----END CERTIFICATE-----\n";
	static const char nolines[] = "-----BEGIN CERTIFICATE-----\nMIIB";
	static const char b64_not_der[] = "QUJDREVGR0g=\r\n";
	static const char text[] = "Hello, this is not a certificate.\n";
	unsigned char *big;

	(void)state;
	expect_bad_input("", 0, "empty");
	expect_bad_input(damaged, sizeof(damaged) - 1, "PEM block 1 is damaged");
	expect_bad_input(nolines, sizeof(nolines) - 1, "damaged");
	expect_bad_input(b64_not_der, sizeof(b64_not_der) - 1, "does not decode to DER");
	expect_bad_input(text, sizeof(text) - 1, "neither DER, PEM, base64 nor PKCS#7");
	expect_bad_input("\x30", 1, "truncated");
	expect_bad_input("\x30\x82\x01", 3, "truncated");
	expect_bad_input("\x30\x03\x02\x01\x01", 5, "not an X.509 certificate");
	big = calloc(1, (size_t)SMP_MAX_INPUT + 1);
	assert_non_null(big);
	expect_bad_input(big, (size_t)SMP_MAX_INPUT + 1, "16 MiB");
	free(big);
}

static void test_empty_pkcs7(void **state)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int len;

	(void)state;
	assert_non_null(p7);
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	len = i2d_PKCS7(p7, &der);
	assert_true(len > 0);
	expect_bad_input(der, (size_t)len, "PKCS#7 bundle holds no certificate");
	OPENSSL_free(der);
	PKCS7_free(p7);
}

static void test_read_file_errors(void **state)
{
	smp_error err = SMP_ERROR_INIT;
	smp_bundle *b = NULL;

	(void)state;
	NEED_PKI();
	assert_int_equal(smp_bundle_read_file(&b, pki_path("no-such-file.cer"), &err),
			 SMP_ERR_NOFILE);
	assert_null(b);
	assert_non_null(strstr(err.msg, "no-such-file.cer"));
	assert_int_equal(smp_bundle_read_file(&b, pki_path("garbage.bin"), &err),
			 SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "cannot read '"));
	assert_non_null(strstr(err.msg, "garbage.bin': not a certificate"));
}

static void test_truncation_loop(void **state)
{
	size_t len = 0;
	unsigned char *data;

	(void)state;
	NEED_PKI();
	data = slurp("alice.der", &len);
	/* Every strict prefix of a DER certificate is refused, and said to be truncated. */
	for (size_t n = 1; n < len; n++) {
		unsigned char *copy = malloc(n);

		assert_non_null(copy);
		memcpy(copy, data, n);
		expect_bad_input(copy, n, "truncated");
		free(copy);
	}
	free(data);
}

/* Feeds every single-byte corruption of file to intake and analysis: nothing may crash. */
static void flip_loop(const char *name, size_t *parsed, size_t *refused)
{
	static const unsigned char masks[] = { 0x01, 0x80, 0xff };
	smp_trust *t = mk_trust();
	size_t len = 0;
	unsigned char *data = slurp(name, &len);
	unsigned char *copy = malloc(len);

	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			smp_error err = SMP_ERROR_INIT;
			smp_bundle *b = NULL;

			memcpy(copy, data, len);
			copy[i] ^= masks[m];
			if (smp_bundle_read(&b, copy, len, &err) != 0) {
				assert_int_equal(err.code, SMP_ERR_BADINPUT);
				assert_true(strlen(err.msg) > 0);
				(*refused)++;
				continue;
			}
			(*parsed)++;
			for (size_t k = 0; k < smp_bundle_leaf_count(b); k++) {
				smp_certinfo *ci = NULL;

				if (smp_cert_analyze(&ci, smp_bundle_leaf(b, k), smp_bundle_all(b), t,
						     &err) == 0) {
					/* A corrupted certificate never verifies cleanly. */
					(void)smp_certinfo_worst(ci);
					smp_certinfo_free(ci);
				}
			}
			smp_bundle_free(b);
		}
	}
	free(copy);
	free(data);
	smp_trust_free(t);
}

static void test_bitflip_der(void **state)
{
	size_t parsed = 0, refused = 0;

	(void)state;
	NEED_PKI();
	flip_loop("alice.der", &parsed, &refused);
	assert_true(parsed > 0);
	assert_true(refused > 0);
}

static void test_bitflip_p7b(void **state)
{
	size_t parsed = 0, refused = 0;

	(void)state;
	NEED_PKI();
	flip_loop("alice.p7b", &parsed, &refused);
	assert_true(parsed > 0);
	assert_true(refused > 0);
}

/* ---- Facts ---------------------------------------------------------------------------------- */

static void test_facts_alice(void **state)
{
	smp_certinfo *ci;
	BIO *bio;
	char *serial_upper = NULL;
	unsigned char *der = NULL, md[32];
	char hex[65];
	int dlen;
	long n;

	(void)state;
	NEED_PKI();
	ci = analyze("alice.pem");
	assert_string_equal(ci->key_type, "RSA");
	assert_int_equal(ci->key_bits, 2048);
	assert_string_equal(ci->signature, "sha256WithRSAEncryption");
	assert_int_equal(ci->not_before, D_2026_01_01);
	assert_int_equal(ci->not_after, D_2027_01_01);
	assert_string_equal(ci->issuer_cn, "Test Issuing CA 1");
	assert_non_null(strstr(ci->subject, "CN=Alice Example"));
	assert_non_null(strstr(ci->issuer, "CN=Test Issuing CA 1"));
	assert_string_equal(ci->aia_ca_issuers, "http://pki.example.test/issuing1.cer");
	assert_true(ci->can_encrypt);
	assert_true(ci->can_sign);
	assert_true(ci->email_protection);
	assert_false(ci->is_ca);
	assert_false(ci->address_from_cn);
	assert_true(ci->chain_ok);
	assert_true(smp_cert_usable(ci));
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_NONE);

	/* serial: lower-case hex of the serial number, as OpenSSL prints it. */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(ci->x509));
	n = BIO_get_mem_data(bio, &serial_upper);
	assert_true(n > 0);
	assert_int_equal(strlen(ci->serial), (size_t)n);
	assert_int_equal(strncasecmp(ci->serial, serial_upper, (size_t)n), 0);
	for (const char *p = ci->serial; *p != '\0'; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	BIO_free(bio);

	/* sha256: of the DER encoding, lower-case hex. */
	dlen = i2d_X509(ci->x509, &der);
	assert_true(dlen > 0);
	assert_int_equal(EVP_Digest(der, (size_t)dlen, md, NULL, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(ci->sha256, hex);
	OPENSSL_free(der);
	smp_certinfo_free(ci);
}

static void test_facts_ec(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("bob-ec.pem");
	assert_string_equal(ci->key_type, "EC");
	assert_int_equal(ci->key_bits, 256);
	/* keyAgreement is what an EC key needs to encrypt: no no_encryption, no purpose error. */
	assert_true(ci->can_encrypt);
	assert_true(ci->can_sign);
	assert_true(ci->chain_ok);
	assert_problems(ci, "");
	assert_true(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

static void test_analyze_der(void **state)
{
	smp_trust *t;
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	size_t len = 0;
	unsigned char *data, *more;

	(void)state;
	NEED_PKI();
	t = mk_trust();
	data = slurp("alice.der", &len);
	assert_int_equal(smp_cert_analyze_der(&ci, data, len, t, &err), 0);
	assert_emails(ci, 1, "alice@partner.example");
	assert_problems(ci, "");
	smp_certinfo_free(ci);
	ci = (smp_certinfo *)&err;
	assert_int_equal(smp_cert_analyze_der(&ci, data, len / 2, t, &err), SMP_ERR_BADINPUT);
	assert_null(ci);
	assert_int_equal(smp_cert_analyze_der(&ci, data, 0, t, &err), SMP_ERR_BADINPUT);
	more = malloc(len + 1);
	assert_non_null(more);
	memcpy(more, data, len);
	more[len] = 0;
	assert_int_equal(smp_cert_analyze_der(&ci, more, len + 1, t, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "follow"));
	free(more);
	free(data);
	smp_trust_free(t);
}

/*
 * The three ways in give one SHA-256 (over the DER); issuer texts follow each certificate's own
 * issuer when issuers alternate (they are kept for the last issuer seen).
 */
static void test_analyze_encoded(void **state)
{
	smp_trust *t;
	smp_certinfo *a = NULL, *b = NULL, *c = NULL;
	smp_error err = SMP_ERROR_INIT;
	const unsigned char *p;
	unsigned char *data;
	size_t len = 0;
	X509 *x;

	(void)state;
	NEED_PKI();
	t = mk_trust();
	data = slurp("alice.der", &len);
	p = data;
	x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_int_equal(smp_cert_analyze_der(&a, data, len, t, &err), 0);
	assert_int_equal(smp_cert_analyze(&b, x, NULL, t, &err), 0);
	assert_int_equal(smp_cert_analyze_encoded(&c, x, NULL, data, len, t, &err), 0);
	assert_string_equal(a->sha256, b->sha256);
	assert_string_equal(a->sha256, c->sha256);
	assert_string_equal(c->issuer_cn, "Test Issuing CA 1");
	assert_problems(c, "");
	smp_certinfo_free(c);
	c = (smp_certinfo *)&err;
	assert_int_equal(smp_cert_analyze_encoded(&c, x, NULL, NULL, 0, t, &err), SMP_ERR_INTERNAL);
	assert_null(c);
	smp_certinfo_free(a);
	smp_certinfo_free(b);
	X509_free(x);
	free(data);
	for (int round = 0; round < 2; round++) {
		a = analyze_with("alice.pem", t);
		b = analyze_with("intermediate.pem", t);
		assert_string_equal(a->issuer_cn, "Test Issuing CA 1");
		assert_non_null(strstr(a->issuer, "CN=Test Issuing CA 1"));
		assert_string_equal(b->issuer_cn, "Test Root CA");
		assert_non_null(strstr(b->issuer, "CN=Test Root CA"));
		assert_null(strstr(b->issuer, "Issuing"));
		smp_certinfo_free(a);
		smp_certinfo_free(b);
	}
	smp_trust_free(t);
}

/* ---- Addresses -------------------------------------------------------------------------------- */

static void test_address_mixed_case(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("bob-ec.pem");
	assert_emails(ci, 1, "Bob@partner.example");
	assert_true(smp_certinfo_has_email(ci, "bob@partner.example"));
	assert_true(smp_certinfo_has_email(ci, "BOB@PARTNER.EXAMPLE"));
	assert_false(smp_certinfo_has_email(ci, "bob@partner.example.org"));
	smp_certinfo_free(ci);
}

static void test_address_san_then_e_dedup(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("carol-sanonly.pem");
	/* SAN order kept; E=CAROL@PARTNER.EXAMPLE duplicates the first and is dropped. */
	assert_emails(ci, 2, "carol@partner.example", "c.smith@partner.example");
	assert_problems(ci, "");
	smp_certinfo_free(ci);
	ci = analyze("alice.pem");
	assert_emails(ci, 1, "alice@partner.example");
	smp_certinfo_free(ci);
}

static void test_address_from_cn(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("dave-cn.pem");
	assert_emails(ci, 1, "dave@partner.example");
	assert_true(ci->address_from_cn);
	assert_problems(ci, "address_from_cn");
	assert_int_equal(smp_certinfo_problem(ci, "address_from_cn")->severity, SMP_SEV_WARNING);
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_WARNING);
	smp_certinfo_free(ci);
}

static void test_no_address(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("noaddr.pem");
	assert_emails(ci, 0);
	assert_problems(ci, "no_address");
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_CRITICAL);
	smp_certinfo_free(ci);
}

static void test_address_idn(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("idn.pem");
	assert_emails(ci, 1, "user@xn--bcher-kva.example");
	assert_true(smp_certinfo_has_email(ci, "user@b\xc3\xbc" "cher.example"));
	assert_problems(ci, "");
	smp_certinfo_free(ci);
}

static void test_address_smtputf8(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("smtputf8.pem");
	assert_emails(ci, 1, "j\xc3\xb6rg@xn--bcher-kva.example");
	assert_true(smp_certinfo_has_email(ci, "j\xc3\xb6rg@b\xc3\xbc" "cher.example"));
	assert_true(smp_certinfo_has_email(ci, "j\xc3\xb6rg@XN--BCHER-KVA.example"));
	assert_false(ci->address_from_cn);
	assert_problems(ci, "");
	smp_certinfo_free(ci);
}

static void test_address_nul(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("nul-email.pem");
	assert_emails(ci, 0);
	assert_problems(ci, "bad_address no_address");
	assert_message_has(ci, "bad_address", "NUL");
	/* The NUL byte is shown escaped, never cut the message short. */
	assert_message_has(ci, "bad_address", "evil@partner.example\\x00.attacker.test");
	assert_false(smp_certinfo_has_email(ci, "evil@partner.example"));
	smp_certinfo_free(ci);
}

/*
 * A self-signed EC certificate with subject CN=cn (an address or not), optional subject E= of
 * ASN.1 string type e_type, and the given subjectAltName (taken).
 */
static X509 *crafted(const char *cn, int e_type, const char *e, size_t e_len, GENERAL_NAMES *san)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(key);
	assert_non_null(x);
	assert_non_null(name);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	if (e != NULL) {
		ASN1_STRING *str = ASN1_STRING_type_new(e_type);

		assert_int_equal(ASN1_STRING_set(str, e, (int)e_len), 1);
		X509_NAME_ENTRY *ne = X509_NAME_ENTRY_create_by_NID(NULL, NID_pkcs9_emailAddress,
								    e_type, ASN1_STRING_get0_data(str),
								    (int)e_len);
		assert_non_null(ne);
		ASN1_STRING_free(str);
		assert_int_equal(X509_NAME_add_entry(name, ne, -1, 0), 1);
		X509_NAME_ENTRY_free(ne);
	}
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){ D_2026_01_01 }));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){ D_2027_01_01 }));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (san != NULL) {
		assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, 0), 1);
		GENERAL_NAMES_free(san);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	EVP_PKEY_free(key);
	return x;
}

static GENERAL_NAME *gn_email(const char *s, size_t len)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *v = ASN1_IA5STRING_new();

	assert_int_equal(ASN1_STRING_set(v, s, (int)len), 1);
	GENERAL_NAME_set0_value(gn, GEN_EMAIL, v);
	return gn;
}

static GENERAL_NAME *gn_smtputf8(int type, const char *s)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_TYPE *val = ASN1_TYPE_new();
	ASN1_STRING *str = ASN1_STRING_type_new(type);

	assert_int_equal(ASN1_STRING_set(str, s, -1), 1);
	ASN1_TYPE_set(val, type, str);
	assert_int_equal(GENERAL_NAME_set0_othername(gn, OBJ_txt2obj("1.3.6.1.5.5.7.8.9", 1),
						     val), 1);
	return gn;
}

static smp_certinfo *analyze_x509(X509 *x)
{
	smp_trust *t = mk_trust();
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (smp_cert_analyze(&ci, x, NULL, t, &err) != 0)
		fail_msg("%s", err.msg);
	X509_free(x);
	smp_trust_free(t);
	return ci;
}

static void test_crafted_addresses(void **state)
{
	GENERAL_NAMES *san;
	smp_certinfo *ci;
	static const char bmp_e[] = { 0, 'E', 0, 'v', 0, 'a', 0, '@', 0, 'X', 0, '.', 0, 'e', 0, 'u' };

	(void)state;
	NEED_PKI();
	/* Order: every SAN address (rfc822Name and SmtpUTF8Mailbox) first, then E=. */
	san = sk_GENERAL_NAME_new_null();
	sk_GENERAL_NAME_push(san, gn_smtputf8(V_ASN1_UTF8STRING, "z@b\xc3\xbc" "cher.example"));
	sk_GENERAL_NAME_push(san, gn_email("a@X.example", 11));
	ci = analyze_x509(crafted("Someone", V_ASN1_IA5STRING, "e@x.example", 11, san));
	assert_emails(ci, 3, "z@xn--bcher-kva.example", "a@x.example", "e@x.example");
	smp_certinfo_free(ci);

	/* A BMPString E= is converted; a DNS-only SAN does not hide it. */
	san = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *dns = GENERAL_NAME_new();
	ASN1_IA5STRING *dv = ASN1_IA5STRING_new();

	ASN1_STRING_set(dv, "host.example", -1);
	GENERAL_NAME_set0_value(dns, GEN_DNS, dv);
	sk_GENERAL_NAME_push(san, dns);
	ci = analyze_x509(crafted("Eva", V_ASN1_BMPSTRING, bmp_e, sizeof(bmp_e), san));
	assert_emails(ci, 1, "Eva@x.eu");
	assert_false(ci->address_from_cn);
	smp_certinfo_free(ci);

	/* SmtpUTF8Mailbox must be a UTF8String; invalid UTF-8 in rfc822Name is refused; a bad
	 * SAN address does not let a CN address in. */
	san = sk_GENERAL_NAME_new_null();
	sk_GENERAL_NAME_push(san, gn_smtputf8(V_ASN1_IA5STRING, "x@y.example"));
	sk_GENERAL_NAME_push(san, gn_email("bad\xff@partner.example", 20));
	ci = analyze_x509(crafted("cn@partner.example", 0, NULL, 0, san));
	assert_emails(ci, 0);
	assert_false(ci->address_from_cn);
	assert_non_null(smp_certinfo_problem(ci, "bad_address"));
	assert_non_null(smp_certinfo_problem(ci, "no_address"));
	assert_null(smp_certinfo_problem(ci, "address_from_cn"));
	{
		size_t bad = 0;

		for (size_t i = 0; i < ci->n_problems; i++)
			if (strcmp(ci->problems[i].code, "bad_address") == 0)
				bad++;
		assert_int_equal(bad, 2);
	}
	smp_certinfo_free(ci);

	/* Without any SAN or E= address, a CN that is no address is not used. */
	ci = analyze_x509(crafted("Just A Name", 0, NULL, 0, NULL));
	assert_emails(ci, 0);
	assert_non_null(smp_certinfo_problem(ci, "no_address"));
	/* Self-signed, not an anchor. */
	assert_message_has(ci, "untrusted", "self-signed");
	smp_certinfo_free(ci);
}

/* ---- Validity ------------------------------------------------------------------------------- */

static void test_expired(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("expired.pem");
	/* Reported once, from the leaf's dates, not again as a chain failure. */
	assert_problems(ci, "expired");
	assert_message_has(ci, "expired", "2026-01-01T00:00:00Z");
	assert_true(ci->chain_ok);
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
	ci = analyze("alice-old-expired.pem");
	assert_problems(ci, "expired");
	smp_certinfo_free(ci);
}

static void test_not_yet_valid(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("notyet.pem");
	assert_problems(ci, "not_yet_valid");
	assert_message_has(ci, "not_yet_valid", "2027-01-01T00:00:00Z");
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

static void test_expiring(void **state)
{
	smp_trust *t;
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("expiring.pem");
	assert_problems(ci, "expiring");
	assert_int_equal(smp_certinfo_problem(ci, "expiring")->severity, SMP_SEV_WARNING);
	assert_message_has(ci, "expiring", "2026-06-15");
	assert_true(smp_cert_usable(ci));
	smp_certinfo_free(ci);
	t = mk_trust_full("root.pem", "intermediate.pem", NULL, 10);
	ci = analyze_with("expiring.pem", t);
	assert_problems(ci, "");
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

/* ---- Purposes ------------------------------------------------------------------------------- */

static void test_sign_only(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("signonly.pem");
	assert_true(ci->can_sign);
	assert_false(ci->can_encrypt);
	assert_problems(ci, "no_encryption");
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

static void test_encrypt_only(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("enconly.pem");
	assert_false(ci->can_sign);
	assert_true(ci->can_encrypt);
	assert_problems(ci, "");
	assert_true(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

static void test_no_eku(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("noeku.pem");
	assert_true(ci->can_sign);
	assert_true(ci->can_encrypt);
	assert_true(ci->email_protection);
	assert_problems(ci, "");
	smp_certinfo_free(ci);
}

static void test_server_eku(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("servereku.pem");
	assert_false(ci->can_sign);
	assert_false(ci->can_encrypt);
	assert_false(ci->email_protection);
	/* Not also no_encryption, and not an `untrusted` purpose failure from the verifier. */
	assert_problems(ci, "no_email_protection");
	assert_true(ci->chain_ok);
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

/* ---- Weak, CA ------------------------------------------------------------------------------- */

static void test_weak_key(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("weak-rsa1024.pem");
	assert_int_equal(ci->key_bits, 1024);
	assert_problems(ci, "weak_key");
	assert_int_equal(smp_certinfo_problem(ci, "weak_key")->severity, SMP_SEV_WARNING);
	assert_message_has(ci, "weak_key", "2048");
	smp_certinfo_free(ci);
}

static void test_sha1(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("sha1.pem");
	assert_string_equal(ci->signature, "sha1WithRSAEncryption");
	/* weak_signature, not untrusted: the chain still verifies. */
	assert_problems(ci, "weak_signature");
	assert_true(ci->chain_ok);
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_WARNING);
	smp_certinfo_free(ci);
}

static void test_is_ca(void **state)
{
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("ca-leaf.pem");
	assert_true(ci->is_ca);
	assert_problems(ci, "is_ca");
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_CRITICAL);
	smp_certinfo_free(ci);
}

/* ---- Chains --------------------------------------------------------------------------------- */

static void test_missing_intermediate(void **state)
{
	smp_trust *t;
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	t = mk_trust_full("root.pem", NULL, NULL, 30);
	ci = analyze_with("missing-int.pem", t);
	assert_problems(ci, "missing_intermediate");
	assert_false(ci->chain_ok);
	assert_message_has(ci, "missing_intermediate", "'Test Issuing CA 1'");
	assert_message_has(ci, "missing_intermediate", "http://pki.example.test/issuing1.cer");
	assert_remedy(ci, "missing_intermediate", SMP_REMEDY_GIVE_INTERMEDIATE);
	smp_certinfo_free(ci);
	ci = analyze_with("alice.pem", t);
	assert_problems(ci, "missing_intermediate");
	smp_certinfo_free(ci);
	smp_trust_free(t);
	/* With the intermediate: no problem. */
	ci = analyze("missing-int.pem");
	assert_problems(ci, "");
	smp_certinfo_free(ci);
}

static void test_untrusted_root(void **state)
{
	smp_trust *t;
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	ci = analyze("untrusted.pem");
	assert_problems(ci, "missing_intermediate");
	assert_message_has(ci, "missing_intermediate", "http://pki.partner.example/issuing2.cer");
	assert_message_has(ci, "missing_intermediate", "'Partner Issuing CA 2'");
	smp_certinfo_free(ci);

	t = mk_trust_full("root.pem", "other-intermediate.pem", NULL, 30);
	ci = analyze_with("untrusted.pem", t);
	assert_problems(ci, "untrusted");
	assert_false(ci->chain_ok);
	assert_message_has(ci, "untrusted", "issuer 'Partner Issuing CA 2' is not trusted here");
	assert_message_has(ci, "untrusted", "http://pki.partner.example/root.cer");
	assert_remedy(ci, "untrusted", SMP_REMEDY_GIVE_ANCHOR);
	smp_certinfo_free(ci);
	smp_trust_free(t);

	t = mk_trust_full("other-root.pem", "other-intermediate.pem", NULL, 30);
	ci = analyze_with("untrusted.pem", t);
	assert_problems(ci, "");
	assert_true(ci->chain_ok);
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

static void test_self_signed_root_in_chain(void **state)
{
	smp_trust *t;
	smp_certinfo *ci;
	char path[4096];
	FILE *fp;
	size_t l1 = 0, l2 = 0;
	unsigned char *a, *b;
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	NEED_PKI();
	a = slurp("other-intermediate.pem", &l1);
	b = slurp("other-root.pem", &l2);
	snprintf(path, sizeof(path), "%s", "test_cert_chain_XXXXXX");
	{
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		fp = fdopen(fd, "wb");
	}
	assert_non_null(fp);
	fwrite(a, 1, l1, fp);
	fwrite(b, 1, l2, fp);
	fclose(fp);
	o.at = T0;
	o.use_system_store = 0;
	o.ca_file = pki_path("root.pem");
	o.untrusted_file = path;
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	ci = analyze_with("untrusted.pem", t);
	assert_problems(ci, "untrusted");
	assert_message_has(ci, "untrusted", "'Partner Root CA'");
	assert_remedy(ci, "untrusted", SMP_REMEDY_GIVE_ANCHOR);
	smp_certinfo_free(ci);
	/* A self-signed leaf. */
	ci = analyze_with("other-root.pem", t);
	assert_non_null(smp_certinfo_problem(ci, "untrusted"));
	assert_message_has(ci, "untrusted", "self-signed");
	smp_certinfo_free(ci);
	smp_trust_free(t);
	unlink(path);
	free(a);
	free(b);
}

static void test_expired_intermediate(void **state)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	/* 2039-06-01: Test Issuing CA 1 (until 2039-01-01) has expired, the root has not. */
	assert_int_equal(smp_parse_time(&o.at, "2039-06-01", &err), 0);
	o.use_system_store = 0;
	o.ca_file = pki_path("root.pem");
	o.untrusted_file = pki_path("intermediate.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	ci = analyze_with("alice.pem", t);
	assert_problems(ci, "expired untrusted");
	assert_message_has(ci, "untrusted", "'Test Issuing CA 1' expired on 2039-01-01");
	assert_false(ci->chain_ok);
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

/* A certificate named like the leaf's issuer but with another key. */
static X509 *impostor_ca(const X509_NAME *name)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

	assert_non_null(key);
	assert_non_null(x);
	assert_non_null(bc);
	bc->ca = 1;
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 42), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){ D_2026_01_01 }));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){ D_2027_01_01 }));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	BASIC_CONSTRAINTS_free(bc);
	EVP_PKEY_free(key);
	return x;
}

static void test_wrong_issuer_given(void **state)
{
	smp_trust *t;
	smp_bundle *b;
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	STACK_OF(X509) *extra = sk_X509_new_null();
	X509 *fake;

	(void)state;
	NEED_PKI();
	t = mk_trust_full("root.pem", NULL, NULL, 30);
	b = read_bundle("missing-int.pem");
	fake = impostor_ca(X509_get_issuer_name(smp_bundle_leaf(b, 0)));
	assert_true(sk_X509_push(extra, fake) > 0);
	assert_int_equal(smp_cert_analyze(&ci, smp_bundle_leaf(b, 0), extra, t, &err), 0);
	/* The issuer's name is there, its certificate is not: not missing, not the right one. */
	assert_problems(ci, "untrusted");
	assert_message_has(ci, "untrusted", "'Test Issuing CA 1'");
	assert_message_has(ci, "untrusted", "http://pki.example.test/issuing1.cer");
	smp_certinfo_free(ci);
	sk_X509_pop_free(extra, X509_free);
	smp_bundle_free(b);
	smp_trust_free(t);
}

static void test_revoked(void **state)
{
	smp_trust *t;
	smp_certinfo *ci;

	(void)state;
	NEED_PKI();
	/* Without a CRL nothing is known about revocation. */
	ci = analyze("revoked.pem");
	assert_problems(ci, "");
	assert_true(smp_cert_usable(ci));
	smp_certinfo_free(ci);

	/* Only the issuing CA's CRL: the leaf is checked, the chain does not fail for lack of
	 * the root's CRL. */
	t = mk_trust_full("root.pem", "intermediate.pem", "crl.pem", 30);
	ci = analyze_with("revoked.pem", t);
	assert_problems(ci, "revoked");
	assert_message_has(ci, "revoked", "2026-04-15");
	assert_message_has(ci, "revoked", "keyCompromise");
	assert_false(ci->chain_ok);
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
	ci = analyze_with("alice.pem", t);
	assert_problems(ci, "");
	assert_true(ci->chain_ok);
	smp_certinfo_free(ci);
	/* A certificate of another CA, with no CRL for it, is not failed either. */
	smp_trust_free(t);
	t = mk_trust_full("other-root.pem", "other-intermediate.pem", "crl.pem", 30);
	ci = analyze_with("untrusted.pem", t);
	assert_problems(ci, "");
	smp_certinfo_free(ci);
	smp_trust_free(t);

	t = mk_trust_full("root.pem", "intermediate.pem", "crls.pem", 30);
	ci = analyze_with("revoked.pem", t);
	assert_problems(ci, "revoked");
	smp_certinfo_free(ci);
	ci = analyze_with("alice.pem", t);
	assert_problems(ci, "");
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

static void test_ca_dir(void **state)
{
	char dir[] = "test_cert_cadir_XXXXXX", path[4096];
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;
	smp_certinfo *ci;
	smp_bundle *b;
	FILE *fp;

	(void)state;
	NEED_PKI();
	assert_non_null(mkdtemp(dir));
	b = read_bundle("root.pem");
	snprintf(path, sizeof(path), "%s/%08lx.0", dir,
		 X509_subject_name_hash(smp_bundle_leaf(b, 0)));
	fp = fopen(path, "w");
	assert_non_null(fp);
	PEM_write_X509(fp, smp_bundle_leaf(b, 0));
	fclose(fp);
	smp_bundle_free(b);
	o.at = T0;
	o.ca_dir = dir;
	o.untrusted_file = pki_path("intermediate.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	ci = analyze_with("alice.pem", t);
	assert_problems(ci, "");
	assert_true(ci->chain_ok);
	smp_certinfo_free(ci);
	smp_trust_free(t);
	unlink(path);
	rmdir(dir);
}

static void test_trust_errors(void **state)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = (smp_trust *)&err;
	time_t before, after;

	(void)state;
	NEED_PKI();
	o.ca_file = pki_path("missing.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_NOFILE);
	assert_null(t);
	assert_non_null(strstr(err.msg, "missing.pem"));
	o.ca_file = pki_path("garbage.bin");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_BADINPUT);
	o.ca_file = pki_path("root.pem");
	o.crl_file = pki_path("alice.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_BADINPUT);
	assert_non_null(strstr(err.msg, "no CRL"));
	o.crl_file = NULL;
	o.untrusted_file = pki_path("nothing-here.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_NOFILE);
	o.untrusted_file = NULL;
	o.ca_dir = pki_path("root.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_NOFILE);
	assert_non_null(strstr(err.msg, "not a directory"));
	o.ca_dir = NULL;
	/* at = 0 means now. */
	before = time(NULL);
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	after = time(NULL);
	assert_true(smp_trust_time(t) >= before && smp_trust_time(t) <= after);
	assert_int_equal(smp_trust_warn_days(t), 30);
	assert_non_null(smp_trust_store(t));
	assert_null(smp_trust_crls(t));
	smp_trust_free(t);
}

/* ---- Problems ------------------------------------------------------------------------------- */

static void test_severity_table(void **state)
{
	static const char *const warnings[] = { "expiring", "superseded", "duplicate", "weak_key",
		"weak_signature", "address_from_cn", "too_many_values", "no_mail_attribute" };
	static const char *const critical[] = { "expired", "not_yet_valid", "untrusted",
		"missing_intermediate", "no_address", "bad_address", "address_mismatch",
		"no_encryption", "no_email_protection", "is_ca", "revoked", "malformed",
		"too_large", "smime_attr_shadows", "first_unusable" };

	(void)state;
	for (size_t i = 0; i < sizeof(warnings) / sizeof(warnings[0]); i++)
		assert_int_equal(smp_problem_severity(warnings[i]), SMP_SEV_WARNING);
	for (size_t i = 0; i < sizeof(critical) / sizeof(critical[0]); i++)
		assert_int_equal(smp_problem_severity(critical[i]), SMP_SEV_CRITICAL);
	assert_string_equal(smp_severity_name(SMP_SEV_WARNING), "warning");
	assert_string_equal(smp_severity_name(SMP_SEV_CRITICAL), "critical");
}

static void test_add_problem(void **state)
{
	smp_certinfo *ci = calloc(1, sizeof(*ci));
	char code[] = "duplicate";

	(void)state;
	assert_non_null(ci);
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_NONE);
	assert_int_equal(smp_certinfo_add_problem(ci, code, "same as value %d", 2), 0);
	code[0] = 'X';   /* the stored code does not depend on the caller's buffer */
	assert_non_null(smp_certinfo_problem(ci, "duplicate"));
	assert_string_equal(smp_certinfo_problem(ci, "duplicate")->message, "same as value 2");
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_WARNING);
	assert_int_equal(smp_certinfo_add_problem(ci, "address_mismatch", "x"), 0);
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_CRITICAL);
	assert_null(smp_certinfo_problem(ci, "expired"));
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
}

/* ---- Time ----------------------------------------------------------------------------------- */

static void expect_time(const char *text, time_t want)
{
	smp_error err = SMP_ERROR_INIT;
	time_t t = 1;

	if (smp_parse_time(&t, text, &err) != 0)
		fail_msg("'%s' refused: %s", text, err.msg);
	assert_int_equal(t, want);
}

static void expect_bad_time(const char *text)
{
	smp_error err = SMP_ERROR_INIT;
	char want[256];
	time_t t = 1;

	assert_int_equal(smp_parse_time(&t, text, &err), SMP_ERR_USAGE);
	assert_int_equal(t, 0);
	snprintf(want, sizeof(want),
		 "invalid time '%s': use RFC 3339 (2026-06-01T12:00:00Z) or YYYY-MM-DD", text);
	assert_string_equal(err.msg, want);
}

static void test_parse_time(void **state)
{
	(void)state;
	expect_time("2026-06-01T00:00:00Z", T0);
	expect_time("2026-06-01", T0);
	expect_time("2026-06-01t00:00:00z", T0);
	expect_time("2026-06-01 00:00:00Z", T0);
	expect_time("2026-06-01T02:00:00+02:00", T0);
	expect_time("2026-05-31T22:30:00-01:30", T0);
	expect_time("2026-06-01T00:00:00.999Z", T0);
	expect_time("2026-06-01T12:00:00Z", T0 + 12 * 3600);
	expect_time("2024-02-29", (time_t)1709164800);
	expect_time("1970-01-01T00:00:00Z", 0);
}

static void test_parse_time_invalid(void **state)
{
	(void)state;
	expect_bad_time("");
	expect_bad_time("yesterday");
	expect_bad_time("2026-6-1");
	expect_bad_time("2026-13-01");
	expect_bad_time("2026-02-29");
	expect_bad_time("2026-06-31");
	expect_bad_time("2026-06-01T24:00:00Z");
	expect_bad_time("2026-06-01T00:60:00Z");
	expect_bad_time("2026-06-01T00:00:00");
	expect_bad_time("2026-06-01T00:00Z");
	expect_bad_time("2026-06-01T00:00:00+0200");
	expect_bad_time("2026-06-01T00:00:00.Z");
	expect_bad_time("2026-06-01Z");
	expect_bad_time("2026-06-01T00:00:00Z trailing");
	expect_bad_time("1969-12-31");
}

static void test_format_time(void **state)
{
	char buf[32];
	time_t t = 0;

	(void)state;
	smp_format_time(buf, sizeof(buf), T0);
	assert_string_equal(buf, "2026-06-01T00:00:00Z");
	smp_format_time(buf, sizeof(buf), T0 + 3661);
	assert_string_equal(buf, "2026-06-01T01:01:01Z");
	assert_int_equal(smp_parse_time(&t, buf, NULL), 0);
	assert_int_equal(t, T0 + 3661);
	smp_format_time(buf, 21, T0);
	assert_string_equal(buf, "2026-06-01T00:00:00Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_der),
		cmocka_unit_test(test_format_pem),
		cmocka_unit_test(test_format_bare_base64),
		cmocka_unit_test(test_format_pem_chain_with_junk),
		cmocka_unit_test(test_format_p7b_der_and_pem),
		cmocka_unit_test(test_format_mixed_two_leaves),
		cmocka_unit_test(test_format_der_trailing),
		cmocka_unit_test(test_format_crlf_and_utf16),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_bad_memory_inputs),
		cmocka_unit_test(test_empty_pkcs7),
		cmocka_unit_test(test_read_file_errors),
		cmocka_unit_test(test_truncation_loop),
		cmocka_unit_test(test_bitflip_der),
		cmocka_unit_test(test_bitflip_p7b),
		cmocka_unit_test(test_facts_alice),
		cmocka_unit_test(test_facts_ec),
		cmocka_unit_test(test_analyze_der),
		cmocka_unit_test(test_analyze_encoded),
		cmocka_unit_test(test_address_mixed_case),
		cmocka_unit_test(test_address_san_then_e_dedup),
		cmocka_unit_test(test_address_from_cn),
		cmocka_unit_test(test_no_address),
		cmocka_unit_test(test_address_idn),
		cmocka_unit_test(test_address_smtputf8),
		cmocka_unit_test(test_address_nul),
		cmocka_unit_test(test_crafted_addresses),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_expiring),
		cmocka_unit_test(test_sign_only),
		cmocka_unit_test(test_encrypt_only),
		cmocka_unit_test(test_no_eku),
		cmocka_unit_test(test_server_eku),
		cmocka_unit_test(test_weak_key),
		cmocka_unit_test(test_sha1),
		cmocka_unit_test(test_is_ca),
		cmocka_unit_test(test_missing_intermediate),
		cmocka_unit_test(test_untrusted_root),
		cmocka_unit_test(test_self_signed_root_in_chain),
		cmocka_unit_test(test_expired_intermediate),
		cmocka_unit_test(test_wrong_issuer_given),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_ca_dir),
		cmocka_unit_test(test_trust_errors),
		cmocka_unit_test(test_severity_table),
		cmocka_unit_test(test_add_problem),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_time_invalid),
		cmocka_unit_test(test_format_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
