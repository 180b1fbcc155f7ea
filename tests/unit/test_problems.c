/*
 * Unit tests for the problem-code table (lib/trust/problems.c): every code the library emits
 * has a row, severities are SPEC §3's, and no library message names a command-line flag.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smimepub/cert.h"
#include "smimepub/problems.h"

/* SPEC §3: "expiring, superseded, duplicate, weak_*, address_from_cn, too_many_values,
   no_mail_attribute are warnings; the rest are critical." */
static const char *const spec_warnings[] = {
	"expiring", "superseded", "duplicate", "weak_key", "weak_signature", "address_from_cn",
	"too_many_values", "no_mail_attribute",
};

/* SPEC §3's codes, certificate and directory side, and the message codes of §3's mail intake. */
static const char *const spec_codes[] = {
	"expired", "not_yet_valid", "untrusted", "missing_intermediate", "no_address",
	"bad_address", "address_mismatch", "no_encryption", "no_email_protection", "weak_key",
	"weak_signature", "is_ca", "revoked", "expiring", "duplicate", "superseded", "malformed",
	"address_from_cn", "too_many_values", "too_large", "no_mail_attribute",
	"smime_attr_shadows", "first_unusable", "bad_signature", "from_mismatch",
	"expiring_soon",  /* SPEC §7 */
};

static int is_spec_warning(const char *code)
{
	for (size_t i = 0; i < sizeof(spec_warnings) / sizeof(spec_warnings[0]); i++)
		if (strcmp(code, spec_warnings[i]) == 0)
			return 1;
	return 0;
}

static void test_table(void **state)
{
	(void)state;
	assert_true(smp_problem_count() >= sizeof(spec_codes) / sizeof(spec_codes[0]));
	for (size_t i = 0; i < sizeof(spec_codes) / sizeof(spec_codes[0]); i++)
		if (smp_problem_lookup(spec_codes[i]) == NULL)
			fail_msg("SPEC code '%s' is not in the table", spec_codes[i]);
	for (size_t i = 0; i < smp_problem_count(); i++) {
		const smp_problem_def *d = smp_problem_at(i);

		assert_non_null(d);
		assert_ptr_equal(smp_problem_lookup(d->code), d);   /* one row per code */
		assert_int_equal(d->severity, is_spec_warning(d->code) ? SMP_SEV_WARNING
								       : SMP_SEV_CRITICAL);
		assert_int_equal(smp_problem_severity(d->code), d->severity);
		assert_true(strlen(d->summary) > 10);
		assert_true(strlen(d->advice) > 5);
		assert_null(strstr(d->summary, "--"));
		assert_null(strstr(d->advice, "--"));
	}
	assert_null(smp_problem_at(smp_problem_count()));
	assert_null(smp_problem_lookup("no_such_code"));
	assert_int_equal(smp_problem_severity("no_such_code"), SMP_SEV_CRITICAL);
	assert_int_equal(smp_problem_lookup("first_unusable")->scope, SMP_SCOPE_ENTRY);
	assert_int_equal(smp_problem_lookup("from_mismatch")->scope, SMP_SCOPE_MESSAGE);
	assert_int_equal(smp_problem_lookup("expired")->scope, SMP_SCOPE_CERTIFICATE);
	assert_string_equal(smp_scope_name(SMP_SCOPE_ENTRY), "entry");
}

/* The whole file at path, NUL-terminated (caller frees). */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		fail_msg("cannot open '%s'", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/*
 * Every string literal passed as the code to a problem-adding call in text: after a name
 * ending in "_problem(" or "_problem_with(", the argument after the first comma. Returns how
 * many were found; fails on a code not in the table.
 */
static size_t check_call_sites(const char *path, const char *text)
{
	static const char *const names[] = { "_problem(", "_problem_with(" };
	size_t found = 0;

	for (size_t k = 0; k < 2; k++) {
		for (const char *p = text; (p = strstr(p, names[k])) != NULL; p++) {
			const char *q = p + strlen(names[k]), *end;
			char code[64];

			while (*q != '\0' && *q != ',' && *q != ')' && *q != ';')
				q++;
			if (*q != ',')
				continue;
			for (q++; *q == ' ' || *q == '\t' || *q == '\n'; q++)
				;
			if (*q != '"' || (end = strchr(q + 1, '"')) == NULL ||
			    (size_t)(end - q - 1) >= sizeof(code))
				continue;
			memcpy(code, q + 1, (size_t)(end - q - 1));
			code[end - q - 1] = '\0';
			if (smp_problem_lookup(code) == NULL)
				fail_msg("%s emits '%s', which is not in the problem table", path, code);
			found++;
		}
	}
	return found;
}

static void test_every_emitted_code_in_table(void **state)
{
	static const char *const files[] = {
		"lib/intake/cert.c", "lib/intake/signer.c", "lib/policy/audit.c",
		"lib/policy/lookup.c", "lib/policy/clients.c", "lib/policy/plan.c",
		"src/publish.c", "src/cmd_lookup.c", "src/cmd_prune.c", "src/cmd_harvest.c",
	};
	const char *root = getenv("SMIMEPUB_SRCDIR");
	char path[4096];
	size_t total = 0;

	(void)state;
	assert_non_null(root);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *text;

		snprintf(path, sizeof(path), "%s/%s", root, files[i]);
		text = slurp(path);
		total += check_call_sites(files[i], text);
		free(text);
	}
	/* the scan sees the calls: cert.c alone adds some twenty kinds of problem */
	assert_true(total >= 30);
}

/* Analyses every certificate of the test PKI, with and without anchors: no message has a flag. */
static void test_no_flags_in_messages(void **state)
{
	const char *pki = getenv("SMIMEPUB_PKI");
	smp_trust_options with = SMP_TRUST_OPTIONS_INIT, without = SMP_TRUST_OPTIONS_INIT;
	smp_trust *trusts[2] = { NULL, NULL };
	smp_error err = SMP_ERROR_INIT;
	char path[4096], anchor[4096];
	struct dirent *de;
	size_t seen = 0;
	DIR *d;

	(void)state;
	assert_non_null(pki);
	snprintf(anchor, sizeof(anchor), "%s/root.pem", pki);
	with.ca_file = anchor;
	with.use_system_store = 0;
	with.at = 1780272000;   /* 2026-06-01, the PKI's "now" */
	without.use_system_store = 0;
	without.at = with.at;
	assert_int_equal(smp_trust_new(&trusts[0], &with, &err), 0);
	assert_int_equal(smp_trust_new(&trusts[1], &without, &err), 0);
	assert_non_null(d = opendir(pki));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		smp_bundle *b = NULL;

		if (len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pki, de->d_name);
		if (smp_bundle_read_file(&b, path, &err) != 0)
			continue;
		for (size_t t = 0; t < 2; t++) {
			for (size_t i = 0; i < smp_bundle_leaf_count(b); i++) {
				smp_certinfo *ci = NULL;

				assert_int_equal(smp_cert_analyze(&ci, smp_bundle_leaf(b, i), NULL,
								  trusts[t], &err), 0);
				for (size_t k = 0; k < ci->n_problems; k++) {
					const smp_problem *p = &ci->problems[k];

					if (smp_problem_lookup(p->code) == NULL)
						fail_msg("%s: code '%s' not in the table", de->d_name,
							 p->code);
					if (strstr(p->message, "--") != NULL)
						fail_msg("%s: %s message names a flag: %s",
							 de->d_name, p->code, p->message);
					seen++;
				}
				smp_certinfo_free(ci);
			}
		}
		smp_bundle_free(b);
	}
	closedir(d);
	assert_true(seen > 20);
	smp_trust_free(trusts[0]);
	smp_trust_free(trusts[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_every_emitted_code_in_table),
		cmocka_unit_test(test_no_flags_in_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
