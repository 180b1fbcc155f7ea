/*
 * Unit tests: trust sources (--trust directory,system,file), where each CA of a verified
 * chain came from, and the pure decision behind issuer_not_distributed (SPEC §6).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "smimepub/audit.h"
#include "smimepub/cert.h"

#define T0 ((time_t)1780272000)   /* 2026-06-01T00:00:00Z */

static char path_buf[8][4096];
static int path_next;

static const char *pki(const char *name)
{
	const char *dir = getenv("SMIMEPUB_PKI");
	char *p = path_buf[path_next++ % 8];

	assert_non_null(dir);
	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

/* The first certificate of a PKI file; the caller frees. */
static X509 *load(const char *name)
{
	smp_bundle *b = NULL;
	smp_error err = SMP_ERROR_INIT;
	X509 *x;

	assert_int_equal(smp_bundle_read_file(&b, pki(name), &err), 0);
	x = sk_X509_value(smp_bundle_all(b), 0);
	assert_int_equal(X509_up_ref(x), 1);
	smp_bundle_free(b);
	return x;
}

static smp_trust *trust_with(unsigned sources, const char *ca_file, const char *untrusted)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;

	o.sources = sources;
	o.ca_file = ca_file != NULL ? pki(ca_file) : NULL;
	o.untrusted_file = untrusted != NULL ? pki(untrusted) : NULL;
	o.at = T0;
	o.use_system_store = 0;
	if (smp_trust_new(&t, &o, &err) != 0)
		fail_msg("smp_trust_new: %s", err.msg);
	return t;
}

/* What the directory distributes, as smp_trust_load_directory adds it. */
static void add_directory(smp_trust *t, const char *name, int anchor)
{
	smp_error err = SMP_ERROR_INIT;
	X509 *x = load(name);

	assert_int_equal(smp_trust_add_ca(t, x, SMP_SOURCE_DIRECTORY, anchor, NULL, &err), 0);
	X509_free(x);
}

static smp_certinfo *analyze(smp_trust *t, const char *name)
{
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	X509 *x = load(name);

	assert_int_equal(smp_cert_analyze(&ci, x, NULL, t, &err), 0);
	X509_free(x);
	return ci;
}

static size_t count_code(const smp_certinfo *ci, const char *code)
{
	size_t n = 0;

	for (size_t i = 0; i < ci->n_problems; i++)
		n += strcmp(ci->problems[i].code, code) == 0;
	return n;
}

/* The decision for every combination of sources. */
static void test_distribution_decision(void **state)
{
	(void)state;
	for (unsigned s = 0; s < 32; s++) {
		smp_distribution want;

		if (s & (SMP_SOURCE_DIRECTORY | SMP_SOURCE_SYSTEM | SMP_SOURCE_CARRIED))
			want = SMP_DIST_OK;
		else if (s & SMP_SOURCE_FILE)
			want = SMP_DIST_LOCAL_ONLY;
		else
			want = SMP_DIST_MISSING;
		assert_int_equal(smp_chain_ca_distribution(s), want);
	}
	/* the local untrusted file is no distribution at all */
	assert_int_equal(smp_chain_ca_distribution(SMP_SOURCE_UNTRUSTED), SMP_DIST_MISSING);
	assert_int_equal(smp_chain_ca_distribution(SMP_SOURCE_UNTRUSTED | SMP_SOURCE_FILE),
			 SMP_DIST_LOCAL_ONLY);
}

static void test_sources_usage(void **state)
{
	smp_trust_options o = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *t = NULL;

	(void)state;
	o.use_system_store = 0;
	/* file named without a file of anchors */
	o.sources = SMP_TRUST_DIRECTORY | SMP_TRUST_FILE;
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_USAGE);
	assert_int_equal(err.hint, SMP_HINT_TRUST_NO_FILE);
	assert_null(t);
	/* a file of anchors the sources leave out */
	smp_error_clear(&err);
	o.sources = SMP_TRUST_DIRECTORY;
	o.ca_file = pki("root.pem");
	assert_int_equal(smp_trust_new(&t, &o, &err), SMP_ERR_USAGE);
	assert_int_equal(err.hint, SMP_HINT_TRUST_UNUSED_FILE);
	assert_null(t);
	/* the default stays as before: file when given */
	o.sources = 0;
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	assert_int_equal(smp_trust_sources(t), SMP_TRUST_FILE);
	smp_trust_free(t);
	o.ca_file = NULL;
	o.use_system_store = 1;
	assert_int_equal(smp_trust_new(&t, &o, &err), 0);
	assert_int_equal(smp_trust_sources(t), SMP_TRUST_SYSTEM);
	smp_trust_free(t);
}

/* --trust directory alone: untrusted until the directory holds the root and intermediate. */
static void test_directory_turns_untrusted_into_ok(void **state)
{
	smp_trust *t = trust_with(SMP_TRUST_DIRECTORY, NULL, NULL);
	smp_certinfo *ci;

	(void)state;
	ci = analyze(t, "alice.pem");
	assert_false(ci->chain_ok);
	assert_int_equal(ci->n_chain, 0);
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 0);
	smp_certinfo_free(ci);

	add_directory(t, "root.pem", 1);
	add_directory(t, "intermediate.pem", 0);
	ci = analyze(t, "alice.pem");
	assert_true(ci->chain_ok);
	assert_int_equal(count_code(ci, "untrusted") + count_code(ci, "missing_intermediate"), 0);
	assert_int_equal(ci->n_chain, 2);
	assert_string_equal(ci->chain[0].name, "Test Issuing CA 1");
	assert_false(ci->chain[0].root);
	assert_false(ci->chain[0].anchor);
	assert_int_equal(ci->chain[0].sources, SMP_SOURCE_DIRECTORY);
	assert_string_equal(ci->chain[1].name, "Test Root CA");
	assert_true(ci->chain[1].root);
	assert_true(ci->chain[1].anchor);
	assert_int_equal(ci->chain[1].sources, SMP_SOURCE_DIRECTORY);
	assert_null(ci->chain[1].file);
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 0);
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

/*
 * directory,file: the root only in --ca-file is a warning, the intermediate only in
 * --untrusted critical; each names its file, the root's fingerprint and that it is a root.
 */
static void test_not_distributed_severities(void **state)
{
	smp_trust *t = trust_with(SMP_TRUST_DIRECTORY | SMP_TRUST_FILE, "root.pem",
				  "intermediate.pem");
	smp_certinfo *ci = analyze(t, "alice.pem");
	const smp_problem *root = NULL, *inter = NULL;

	(void)state;
	assert_true(ci->chain_ok);
	assert_int_equal(ci->n_chain, 2);
	assert_int_equal(ci->chain[0].sources, SMP_SOURCE_UNTRUSTED);
	assert_string_equal(ci->chain[0].file, pki("intermediate.pem"));
	assert_int_equal(ci->chain[1].sources, SMP_SOURCE_FILE);
	assert_string_equal(ci->chain[1].file, pki("root.pem"));
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 2);
	for (size_t i = 0; i < ci->n_problems; i++) {
		const smp_problem *p = &ci->problems[i];

		if (strcmp(p->code, "issuer_not_distributed") != 0)
			continue;
		if (p->ca_root)
			root = p;
		else
			inter = p;
	}
	assert_non_null(root);
	assert_non_null(inter);
	assert_int_equal(root->severity, SMP_SEV_WARNING);
	assert_int_equal(root->remedy, SMP_REMEDY_PUBLISH_CA);
	assert_string_equal(root->ca_sha256, ci->chain[1].sha256);
	assert_string_equal(root->ca_file, pki("root.pem"));
	assert_non_null(strstr(root->message, "Test Root CA"));
	assert_int_equal(inter->severity, SMP_SEV_CRITICAL);
	assert_string_equal(inter->ca_file, pki("intermediate.pem"));
	assert_non_null(strstr(inter->message, "Test Issuing CA 1"));
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_CRITICAL);
	smp_certinfo_free(ci);

	/* once the directory distributes the intermediate, only the root's warning is left */
	add_directory(t, "intermediate.pem", 0);
	ci = analyze(t, "alice.pem");
	assert_int_equal(ci->chain[0].sources, SMP_SOURCE_DIRECTORY | SMP_SOURCE_UNTRUSTED);
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 1);
	assert_int_equal(smp_certinfo_worst(ci), SMP_SEV_WARNING);
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

/* Without directory among the sources there is nothing to compare with: no finding. */
static void test_no_finding_without_directory(void **state)
{
	smp_trust *t = trust_with(0, "root.pem", "intermediate.pem");
	smp_certinfo *ci = analyze(t, "alice.pem");

	(void)state;
	assert_true(ci->chain_ok);
	assert_int_equal(ci->n_chain, 2);
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 0);
	smp_certinfo_free(ci);
	smp_trust_free(t);
}

/* An intermediate that travels with the certificate reaches the client with it. */
static void test_carried_intermediate_is_provided(void **state)
{
	smp_trust *t = trust_with(SMP_TRUST_DIRECTORY, NULL, NULL);
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	STACK_OF(X509) *extra = sk_X509_new_null();
	X509 *leaf = load("alice.pem"), *inter = load("intermediate.pem");

	(void)state;
	add_directory(t, "root.pem", 1);
	assert_true(sk_X509_push(extra, inter) > 0);
	assert_int_equal(smp_cert_analyze(&ci, leaf, extra, t, &err), 0);
	assert_true(ci->chain_ok);
	assert_int_equal(ci->chain[0].sources, SMP_SOURCE_CARRIED);
	assert_int_equal(smp_audit_check_distribution(ci, smp_trust_sources(t)), 0);
	assert_int_equal(count_code(ci, "issuer_not_distributed"), 0);
	smp_certinfo_free(ci);
	sk_X509_pop_free(extra, X509_free);
	X509_free(leaf);
	smp_trust_free(t);
}

/*
 * A summary folded from workers keeps the severity a finding was lowered to: a run whose only
 * finding is the local-file warning exits 1, not 2.
 */
static void test_summary_keeps_lowered_severity(void **state)
{
	smp_audit_summary *s = NULL;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_audit_summary_new(&s, &err), 0);
	assert_int_equal(smp_audit_summary_add_code_at(s, "issuer_not_distributed",
						       SMP_SEV_WARNING, 2, &err), 0);
	assert_int_equal(smp_audit_summary_count(s, "issuer_not_distributed"), 2);
	assert_int_equal(smp_audit_summary_severity_count(s, SMP_SEV_WARNING), 2);
	assert_int_equal(smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL), 0);
	assert_int_equal(smp_audit_summary_code_severity(s, 0, SMP_SEV_WARNING), 2);
	assert_int_equal(smp_audit_summary_exit_status(s), 1);
	assert_int_equal(smp_audit_summary_add_code_at(s, "issuer_not_distributed",
						       SMP_SEV_CRITICAL, 1, &err), 0);
	assert_int_equal(smp_audit_summary_count(s, "issuer_not_distributed"), 3);
	assert_int_equal(smp_audit_summary_code_severity(s, 0, SMP_SEV_CRITICAL), 1);
	assert_int_equal(smp_audit_summary_exit_status(s), 2);
	/* the table's severity when none is said */
	assert_int_equal(smp_audit_summary_add_code(s, "expiring", 1, &err), 0);
	assert_int_equal(smp_audit_summary_code_severity(s, 1, SMP_SEV_WARNING), 1);
	smp_audit_summary_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distribution_decision),
		cmocka_unit_test(test_sources_usage),
		cmocka_unit_test(test_directory_turns_untrusted_into_ok),
		cmocka_unit_test(test_not_distributed_severities),
		cmocka_unit_test(test_no_finding_without_directory),
		cmocka_unit_test(test_carried_intermediate_is_provided),
		cmocka_unit_test(test_summary_keeps_lowered_severity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
