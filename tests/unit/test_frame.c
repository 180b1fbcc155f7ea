/*
 * Unit tests: the encoding between smimepub and its analysis workers (src/frame.c): numbers,
 * strings and whole certificate analyses (smp_certinfo) survive the round trip, every field
 * the publish pipeline reads; truncated and bit-flipped frames are refused (or read as some
 * other analysis) without crashing or leaking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "smimepub/audit.h"
#include "smimepub/cert.h"

#define T0 ((time_t)1780272000)          /* 2026-06-01T00:00:00Z */

/* The analysis of the PKI file name (its first leaf) at T0, or NULL without the PKI. */
static smp_certinfo *analyse(const char *name, const char *untrusted)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;
	smp_bundle *b = NULL;
	smp_certinfo *ci = NULL;
	const char *dir = getenv("SMIMEPUB_PKI");
	char ca[4096], un[4096], path[4096];

	if (dir == NULL || *dir == '\0')
		return NULL;
	snprintf(ca, sizeof(ca), "%s/root.pem", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	o.at = T0;
	o.use_system_store = 0;
	o.ca_file = ca;
	if (untrusted != NULL) {
		snprintf(un, sizeof(un), "%s/%s", dir, untrusted);
		o.untrusted_file = un;
	}
	if (smp_trust_new(&t, &o, &err) != 0)
		fail_msg("smp_trust_new: %s", err.msg);
	if (smp_bundle_read_file(&b, path, &err) != 0)
		fail_msg("%s", err.msg);
	if (smp_cert_analyze(&ci, smp_bundle_leaf(b, 0), smp_bundle_all(b), t, &err) != 0)
		fail_msg("smp_cert_analyze: %s", err.msg);
	smp_bundle_free(b);
	smp_trust_free(t);
	return ci;
}

static void assert_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* Every field publish reads is the same; the copy has no X509. */
static void assert_certinfo_same(const smp_certinfo *a, const smp_certinfo *b)
{
	assert_null(b->x509);
	assert_str_same(a->subject, b->subject);
	assert_str_same(a->issuer, b->issuer);
	assert_str_same(a->issuer_cn, b->issuer_cn);
	assert_str_same(a->serial, b->serial);
	assert_string_equal(a->sha256, b->sha256);
	assert_int_equal(a->n_emails, b->n_emails);
	for (size_t i = 0; i < a->n_emails; i++)
		assert_string_equal(a->emails[i], b->emails[i]);
	assert_int_equal(a->address_from_cn, b->address_from_cn);
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->not_after, b->not_after);
	assert_string_equal(a->key_type, b->key_type);
	assert_int_equal(a->key_bits, b->key_bits);
	assert_str_same(a->signature, b->signature);
	assert_int_equal(a->can_encrypt, b->can_encrypt);
	assert_int_equal(a->can_sign, b->can_sign);
	assert_int_equal(a->email_protection, b->email_protection);
	assert_int_equal(a->is_ca, b->is_ca);
	assert_int_equal(a->chain_ok, b->chain_ok);
	assert_str_same(a->aia_ca_issuers, b->aia_ca_issuers);
	assert_int_equal(a->n_problems, b->n_problems);
	for (size_t i = 0; i < a->n_problems; i++) {
		/* the library's own code strings, so comparisons by pointer keep working */
		assert_ptr_equal(a->problems[i].code, b->problems[i].code);
		assert_int_equal(a->problems[i].severity, b->problems[i].severity);
		assert_int_equal(a->problems[i].remedy, b->problems[i].remedy);
		assert_str_same(a->problems[i].message, b->problems[i].message);
		assert_str_same(a->problems[i].ca_sha256, b->problems[i].ca_sha256);
		assert_str_same(a->problems[i].ca_file, b->problems[i].ca_file);
		assert_int_equal(a->problems[i].ca_root, b->problems[i].ca_root);
	}
	assert_int_equal(a->n_chain, b->n_chain);
	for (size_t i = 0; i < a->n_chain; i++) {
		assert_str_same(a->chain[i].subject, b->chain[i].subject);
		assert_str_same(a->chain[i].name, b->chain[i].name);
		assert_string_equal(a->chain[i].sha256, b->chain[i].sha256);
		assert_int_equal(a->chain[i].root, b->chain[i].root);
		assert_int_equal(a->chain[i].anchor, b->chain[i].anchor);
		assert_int_equal(a->chain[i].sources, b->chain[i].sources);
		assert_str_same(a->chain[i].file, b->chain[i].file);
	}
	assert_int_equal(smp_certinfo_worst(a), smp_certinfo_worst(b));
}

/* Encodes ci between two markers, decodes it and checks the copy and the markers. */
static void round_trip(const smp_certinfo *ci)
{
	struct buf b = { 0 };
	struct rd r;
	smp_certinfo *copy = NULL;

	buf_u32(&b, 0xfeedf00du);
	buf_certinfo(&b, ci);
	buf_str(&b, "after");
	assert_false(b.failed);
	r = (struct rd){ b.p, b.len, 0, 0 };
	assert_int_equal(rd_u32(&r), 0xfeedf00du);
	assert_int_equal(rd_certinfo(&r, &copy), 0);
	assert_non_null(copy);
	assert_certinfo_same(ci, copy);
	assert_string_equal(rd_str(&r), "after");
	assert_false(r.bad);
	assert_int_equal(r.off, b.len);
	smp_certinfo_free(copy);
	free(b.p);
}

static void test_primitives(void **state)
{
	struct buf b = { 0 };
	struct rd r;
	size_t len;
	const char *p;

	(void)state;
	buf_u32(&b, 7);
	buf_u64(&b, UINT64_MAX - 1);
	buf_str(&b, NULL);
	buf_str(&b, "");
	buf_bytes(&b, "a\0b", 3);
	assert_false(b.failed);
	r = (struct rd){ b.p, b.len, 0, 0 };
	assert_int_equal(rd_u32(&r), 7);
	assert_true(rd_u64(&r) == UINT64_MAX - 1);
	assert_null(rd_str(&r));
	assert_string_equal(rd_str(&r), "");
	p = rd_bytes(&r, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 3);
	assert_false(r.bad);
	/* past the end: nothing, and the reader stays bad */
	assert_int_equal(rd_u32(&r), 0);
	assert_true(r.bad);
	assert_null(rd_str(&r));
	/* a length that runs past the frame */
	r = (struct rd){ b.p, 20, 0, 0 };
	rd_u32(&r);
	rd_u64(&r);
	rd_str(&r);
	assert_null(rd_str(&r));
	assert_null(rd_array(&r, 1, 1));
	assert_true(r.bad);
	free(b.p);
}

static void test_round_trip_pki(void **state)
{
	/* no problems; warnings; critical problems with an AIA URL; two addresses; from the CN */
	static const char *const names[] = {
		"alice.pem", "bob-ec.pem", "expired.pem", "untrusted.pem", "missing-int.pem",
		"weak-rsa1024.pem", "sha1.pem", "dave-cn.pem", "noaddr.pem", "idn.pem", "ca-leaf.pem",
		"signonly.pem", "expiring.pem", "notyet.pem",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		smp_certinfo *ci = analyse(names[i], "intermediate.pem");

		if (ci == NULL) {
			skip();
			return;
		}
		round_trip(ci);
		smp_certinfo_free(ci);
	}
}

static void test_round_trip_entry_problems(void **state)
{
	smp_certinfo *ci = analyse("alice.pem", NULL);

	(void)state;
	if (ci == NULL) {
		skip();
		return;
	}
	/* what the parent adds later, and a problem without a message */
	assert_int_equal(smp_certinfo_add_problem(ci, "address_mismatch", "entry %s", "x"), 0);
	assert_int_equal(smp_certinfo_add_problem(ci, "no_mail_attribute", "m"), 0);
	free(ci->problems[ci->n_problems - 1].message);
	ci->problems[ci->n_problems - 1].message = NULL;
	round_trip(ci);
	smp_certinfo_free(ci);
}

/* A worker's verdict on distribution: the chain's sources and the CA to publish survive. */
static void test_round_trip_chain_and_distribution(void **state)
{
	smp_certinfo *ci = analyse("alice.pem", "intermediate.pem");

	(void)state;
	if (ci == NULL) {
		skip();
		return;
	}
	assert_int_equal(ci->n_chain, 2);
	assert_int_equal(smp_audit_check_distribution(ci, SMP_TRUST_DIRECTORY | SMP_TRUST_FILE), 0);
	assert_non_null(smp_certinfo_problem(ci, "issuer_not_distributed"));
	round_trip(ci);
	smp_certinfo_free(ci);
}

static void test_unknown_problem_code_refused(void **state)
{
	struct buf b = { 0 };
	struct rd r;
	smp_certinfo *ci = analyse("alice.pem", "intermediate.pem"), *copy = NULL;
	unsigned char *code;

	(void)state;
	if (ci == NULL) {
		skip();
		return;
	}
	assert_int_equal(smp_certinfo_add_problem(ci, "expired", "old"), 0);
	buf_certinfo(&b, ci);
	/* rename the code in the frame: "expired" -> "exXired" */
	code = memmem(b.p, b.len, "expired", 8);
	assert_non_null(code);
	code[2] = 'X';
	r = (struct rd){ b.p, b.len, 0, 0 };
	assert_int_equal(rd_certinfo(&r, &copy), SMP_ERR_INTERNAL);
	assert_null(copy);
	assert_true(r.bad);
	free(b.p);
	smp_certinfo_free(ci);
}

static void test_truncation_and_bitflips(void **state)
{
	struct buf b = { 0 };
	struct rd r;
	smp_certinfo *ci = analyse("untrusted.pem", "intermediate.pem"), *copy;

	(void)state;
	if (ci == NULL) {
		skip();
		return;
	}
	buf_certinfo(&b, ci);
	for (size_t len = 0; len < b.len; len++) {
		copy = NULL;
		r = (struct rd){ b.p, len, 0, 0 };
		assert_int_not_equal(rd_certinfo(&r, &copy), 0);
		assert_null(copy);
		assert_true(r.bad);
	}
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			copy = NULL;
			b.p[i] ^= (unsigned char)(1u << bit);
			r = (struct rd){ b.p, b.len, 0, 0 };
			if (rd_certinfo(&r, &copy) == 0)
				assert_non_null(copy);
			else
				assert_null(copy);
			smp_certinfo_free(copy);
			b.p[i] ^= (unsigned char)(1u << bit);
		}
	}
	free(b.p);
	smp_certinfo_free(ci);
}

/*
 * An audited entry (what audit's workers send back without a render function): Alice's
 * certificate twice (duplicate) and a value that is no certificate, read back into the same
 * findings; truncated and bit-flipped frames are refused or read as other findings, never a
 * crash or a leak.
 */
static void test_audit_entry_round_trip(void **state)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	const char *dir = getenv("SMIMEPUB_PKI");
	char ca[4096], path[4096], garbage[300];
	smp_trust *t = NULL;
	smp_bundle *bd = NULL;
	unsigned char *der = NULL;
	char *mail[] = { "alice@partner.example", NULL };
	char *attrs[] = { "userCertificate;binary", "userCertificate", "userCertificate", NULL };
	struct berval certs[4];
	smp_entry e, back;
	smp_audit_entry *a = NULL, *copy = NULL;
	struct buf b = { 0 };
	struct rd r;
	size_t start;
	int n;

	(void)state;
	if (dir == NULL || *dir == '\0') {
		skip();
		return;
	}
	snprintf(ca, sizeof(ca), "%s/root.pem", dir);
	snprintf(path, sizeof(path), "%s/alice-chain.pem", dir);
	o.at = T0;
	o.use_system_store = 0;
	o.ca_file = ca;
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	assert_int_equal(smp_bundle_read_file(&bd, path, &err), 0);
	n = i2d_X509(smp_bundle_leaf(bd, 0), &der);
	assert_true(n > 0);
	memset(garbage, 'x', sizeof(garbage));
	memset(certs, 0, sizeof(certs));
	certs[0] = (struct berval){ (ber_len_t)n, (char *)der };
	certs[1] = certs[0];
	certs[2] = (struct berval){ sizeof(garbage), garbage };
	memset(&e, 0, sizeof(e));
	e.dn = "cn=Alice,ou=partners,dc=example,dc=test";
	e.cn = "Alice";
	e.mail = mail;
	e.n_mail = 1;
	e.certs = certs;
	e.n_certs = 3;
	e.cert_attrs = attrs;
	assert_int_equal(smp_audit_entry_run(&a, &e, t, &err), 0);

	buf_entry(&b, &e);
	start = b.len;
	buf_audit_entry(&b, a);
	assert_false(b.failed);
	r = (struct rd){ b.p, b.len, 0, 0 };
	assert_int_equal(rd_entry(&r, &back), 0);
	assert_int_equal(rd_audit_entry(&r, &back, &copy), 0);
	assert_int_equal(r.off, b.len);
	assert_ptr_equal(copy->entry, &back);
	assert_str_same(copy->address, a->address);
	assert_int_equal(copy->n_values, 3);
	for (size_t i = 0; i < a->n_values; i++) {
		const smp_problem *p, *q;
		size_t np = smp_audit_value_problems(&a->values[i], &p);

		assert_int_equal(copy->values[i].index, a->values[i].index);
		assert_int_equal(copy->values[i].size, a->values[i].size);
		assert_string_equal(copy->values[i].sha256, a->values[i].sha256);
		assert_string_equal(copy->values[i].attr, attrs[i]);
		assert_int_equal(copy->values[i].info == NULL, a->values[i].info == NULL);
		if (a->values[i].info != NULL)
			assert_certinfo_same(a->values[i].info, copy->values[i].info);
		assert_int_equal(smp_audit_value_problems(&copy->values[i], &q), np);
		for (size_t k = 0; k < np; k++) {
			assert_string_equal(q[k].code, p[k].code);
			assert_str_same(q[k].message, p[k].message);
			assert_int_equal(q[k].remedy, p[k].remedy);
		}
	}
	assert_non_null(smp_audit_value_problem(&copy->values[1], "duplicate"));
	assert_non_null(smp_audit_value_problem(&copy->values[2], "malformed"));
	assert_int_equal(copy->n_entry_problems, a->n_entry_problems);
	for (size_t k = 0; k < a->n_entry_problems; k++)
		assert_string_equal(copy->entry_problems[k].code, a->entry_problems[k].code);
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		assert_int_equal(copy->picks[c].attr, a->picks[c].attr);
		assert_int_equal(copy->picks[c].index, a->picks[c].index);
		assert_int_equal(copy->picks[c].n_taken, a->picks[c].n_taken);
		assert_int_equal(copy->picks[c].encrypts, a->picks[c].encrypts);
		assert_str_same(copy->picks[c].why, a->picks[c].why);
	}
	smp_audit_entry_free(copy);

	for (size_t len = start; len < b.len; len++) {
		r = (struct rd){ b.p + start, len - start, 0, 0 };
		copy = NULL;
		assert_int_not_equal(rd_audit_entry(&r, &back, &copy), 0);
		assert_null(copy);
		assert_true(r.bad);
	}
	for (size_t i = start; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			copy = NULL;
			b.p[i] ^= (unsigned char)(1u << bit);
			r = (struct rd){ b.p + start, b.len - start, 0, 0 };
			if (rd_audit_entry(&r, &back, &copy) == 0)
				assert_non_null(copy);
			else
				assert_null(copy);
			smp_audit_entry_free(copy);
			b.p[i] ^= (unsigned char)(1u << bit);
		}
	}
	rd_entry_release(&back);
	free(b.p);
	smp_audit_entry_free(a);
	OPENSSL_free(der);
	smp_bundle_free(bd);
	smp_trust_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primitives),
		cmocka_unit_test(test_round_trip_pki),
		cmocka_unit_test(test_round_trip_entry_problems),
		cmocka_unit_test(test_round_trip_chain_and_distribution),
		cmocka_unit_test(test_unknown_problem_code_refused),
		cmocka_unit_test(test_truncation_and_bitflips),
		cmocka_unit_test(test_audit_entry_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
