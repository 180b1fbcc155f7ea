/* Unit tests: mailbox address normalisation and comparison (SPEC §3), no PKI needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smimepub/cert.h"

/* Normalises in (len bytes) and expects success with result want. */
static void expect_ok(const char *in, size_t len, const char *want)
{
	smp_error err = SMP_ERROR_INIT;
	char *out = NULL;
	int r = smp_address_normalize(&out, in, len, &err);

	if (r != 0)
		fail_msg("'%s' refused: %s", in, err.msg);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

/* Expects refusal with SMP_ERR_BADINPUT and a message containing why; out stays NULL. */
static void expect_bad(const char *in, size_t len, const char *why)
{
	smp_error err = SMP_ERROR_INIT;
	char *out = (char *)"sentinel";
	int r = smp_address_normalize(&out, in, len, &err);

	assert_int_equal(r, SMP_ERR_BADINPUT);
	assert_null(out);
	assert_int_equal(err.code, SMP_ERR_BADINPUT);
	if (strstr(err.msg, why) == NULL)
		fail_msg("message '%s' does not say '%s'", err.msg, why);
}

#define OK(s, want) expect_ok(s, sizeof(s) - 1, want)
#define BAD(s, why) expect_bad(s, sizeof(s) - 1, why)

static void test_plain_unchanged(void **state)
{
	(void)state;
	OK("alice@partner.example", "alice@partner.example");
	OK("first.last+tag@sub.partner.example", "first.last+tag@sub.partner.example");
}

static void test_domain_lowercased_local_kept(void **state)
{
	(void)state;
	OK("Bob@Partner.EXAMPLE", "Bob@partner.example");
	OK("CAROL@PARTNER.EXAMPLE", "CAROL@partner.example");
}

static void test_idn_to_alabel(void **state)
{
	(void)state;
	OK("user@b\xc3\xbc" "cher.example", "user@xn--bcher-kva.example");
	/* Upper-case U-label maps to the same A-label. */
	OK("user@B\xc3\x9c" "CHER.example", "user@xn--bcher-kva.example");
	/* An A-label given as such stays, lower-cased. */
	OK("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example");
	/* Non-transitional processing: sharp s is kept (fass.de vs fa\xc3\x9f.de). */
	OK("a@fa\xc3\x9f.de", "a@xn--fa-hia.de");
}

static void test_utf8_local_part_kept(void **state)
{
	(void)state;
	OK("j\xc3\xb6rg@b\xc3\xbc" "cher.example", "j\xc3\xb6rg@xn--bcher-kva.example");
}

static void test_embedded_nul(void **state)
{
	(void)state;
	BAD("evil@partner.example\0.attacker.test", "NUL");
	BAD("\0alice@partner.example", "NUL");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	BAD("alice@partner\xff.example", "UTF-8");
	BAD("\xc0\xaf" "alice@partner.example", "UTF-8");      /* overlong '/' */
	BAD("alice@\xed\xa0\x80.example", "UTF-8");            /* surrogate */
	BAD("alice@b\xc3", "UTF-8");                           /* cut sequence */
	BAD("alice\xf5\x80\x80\x80@x.example", "UTF-8");      /* beyond U+10FFFF */
}

static void test_at_sign(void **state)
{
	(void)state;
	BAD("alice.partner.example", "no '@'");
	BAD("alice@evil@partner.example", "more than one '@'");
	BAD("@partner.example", "empty local part");
	BAD("alice@", "empty domain");
}

static void test_other_refusals(void **state)
{
	smp_error err = SMP_ERROR_INIT;
	char *out = NULL;

	(void)state;
	assert_int_equal(smp_address_normalize(&out, "", 0, &err), SMP_ERR_BADINPUT);
	assert_null(out);
	BAD("alice smith@partner.example", "space");
	BAD("alice@partner.example\r\n", "control");
	BAD("alice@partner..example", "invalid domain");
	BAD("alice@partner.example.", "invalid domain");
	BAD("alice@part<ner.example", "invalid domain");
	/* U+2028 LINE SEPARATOR is disallowed in domain names. */
	BAD("alice@a\xe2\x80\xa8" "b.example", "internationalised domain");
}

/*
 * Full-width and other compatibility characters after the '@': UTS #46 would fold them into
 * another domain (example.com); they are reported, saying what was found.
 */
static void test_compatibility_characters_in_domain(void **state)
{
	(void)state;
	/* U+FF45.. FULLWIDTH LATIN SMALL LETTERs: 'ｅｘａｍｐｌｅ.com' */
	BAD("alice@\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c"
	    "\xef\xbd\x85.com", "compatibility character (U+FF45)");
	BAD("alice@\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c"
	    "\xef\xbd\x85.com", "is not 'example.com'");
	/* one full-width letter among ASCII ones, and a full-width capital */
	BAD("alice@partn\xef\xbd\x85r.example", "U+FF45");
	BAD("alice@\xef\xbc\xa5xample.com", "U+FF25");
	/* U+FF0E FULLWIDTH FULL STOP between labels */
	BAD("alice@example\xef\xbc\x8e" "com", "U+FF0E");
	/* U+FB01 LATIN SMALL LIGATURE FI, U+2460 CIRCLED DIGIT ONE, U+00B2 SUPERSCRIPT TWO */
	BAD("alice@\xef\xac\x81le.example", "U+FB01");
	BAD("alice@\xe2\x91\xa0.example", "U+2460");
	BAD("alice@x\xc2\xb2.example", "U+00B2");
	/* U+212A KELVIN SIGN is a canonical (not compatibility) twin of 'K': NFC settles it */
	OK("alice@\xe2\x84\xaa" "ilo.example", "alice@kilo.example");
	/* decomposed input is fine: u + U+0308 is ü */
	OK("user@bu\xcc\x88" "cher.example", "user@xn--bcher-kva.example");
}

static void test_length_is_respected(void **state)
{
	(void)state;
	/* Only the first len bytes count: no read beyond them. */
	expect_ok("alice@partner.exampleXYZ", 21, "alice@partner.example");
}

static void test_equal(void **state)
{
	(void)state;
	assert_true(smp_address_equal("alice@partner.example", "ALICE@Partner.Example"));
	assert_true(smp_address_equal("Bob@partner.example", "bob@partner.example"));
	assert_false(smp_address_equal("alice@partner.example", "alice@partner.example.evil"));
	assert_false(smp_address_equal("alice@partner.example", "alic@partner.example"));
	assert_false(smp_address_equal(NULL, "a@b"));
	assert_false(smp_address_equal("a@b", NULL));
}

/* The Unicode form of norm is want (NULL: it has none). */
static void expect_unicode(const char *norm, const char *want)
{
	smp_error err = SMP_ERROR_INIT;
	char *out = (char *)"sentinel";

	assert_int_equal(smp_address_unicode(&out, norm, &err), 0);
	if (want == NULL) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void test_unicode_form(void **state)
{
	(void)state;
	expect_unicode("user@xn--bcher-kva.example", "user@b\xc3\xbc" "cher.example");
	expect_unicode("J\xc3\xb6" "rg@mail.xn--bcher-kva.example", "J\xc3\xb6" "rg@mail.b\xc3\xbc" "cher.example");
	/* and back: the Unicode form normalises to the address it came from */
	OK("user@b\xc3\xbc" "cher.example", "user@xn--bcher-kva.example");
	/* no A-label, or one libidn2 does not decode: only the address itself */
	expect_unicode("alice@partner.example", NULL);
	expect_unicode("alice@xnx--partner.example", NULL);
	expect_unicode("alice@xn--.example", NULL);
	expect_unicode("alice@xn--zz-zz-zz-\x7f.example", NULL);
	/* no valid Punycode; a symbol IDNA2008 disallows, which would not normalise back */
	expect_unicode("alice@xn--abc-.example", NULL);
	expect_unicode("alice@xn--ls8h.example", NULL);
	expect_unicode("no-at-sign", NULL);
	expect_unicode(NULL, NULL);
}

/* Which addresses may become a contact: RFC 5321 / 6531 mailboxes on an Internet domain. */
static void test_mailbox(void **state)
{
	static const char *const good[] = {
		"alice@partner.example", "first.last+tag@sub.partner.example",
		"o'brien@partner.example", "a*b=c@partner.example", "\"john smith\"@partner.example",
		"\"a\\\"b\"@partner.example", "j\xc3\xb6rg@xn--mller-kva.example",
		"x@a-b.example", NULL,
	};
	static const char *const bad[] = {
		"two..dots@partner.example", ".lead@partner.example", "trail.@partner.example",
		"a b@partner.example", "a(b)@partner.example", "a,b@partner.example",
		"a\\b@partner.example", "\"unterminated@partner.example", "nodomain@",
		"@partner.example", "alice@localhost", "alice@-partner.example",
		"alice@partner-.example", "alice@partner..example", "alice@[127.0.0.1]",
		"alice@under_score.example", NULL,
	};
	smp_error err = SMP_ERROR_INIT;
	char long_local[80];

	(void)state;
	for (size_t i = 0; good[i] != NULL; i++)
		assert_int_equal(smp_address_check_mailbox(good[i], &err), 0);
	for (size_t i = 0; bad[i] != NULL; i++) {
		smp_error_clear(&err);
		assert_int_equal(smp_address_check_mailbox(bad[i], &err), SMP_ERR_BADINPUT);
		assert_non_null(strstr(err.msg, "'"));  /* names the address */
	}
	memset(long_local, 'a', 65);
	strcpy(long_local + 65, "@p.example");
	assert_int_equal(smp_address_check_mailbox(long_local, &err), SMP_ERR_BADINPUT);
	long_local[64] = '@';
	strcpy(long_local + 64, "@p.example");
	assert_int_equal(smp_address_check_mailbox(long_local, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_unchanged),
		cmocka_unit_test(test_domain_lowercased_local_kept),
		cmocka_unit_test(test_idn_to_alabel),
		cmocka_unit_test(test_utf8_local_part_kept),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_at_sign),
		cmocka_unit_test(test_other_refusals),
		cmocka_unit_test(test_compatibility_characters_in_domain),
		cmocka_unit_test(test_length_is_respected),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_unicode_form),
		cmocka_unit_test(test_mailbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
