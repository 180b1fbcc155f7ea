/* Unit tests: audit findings on one entry, prune selection, run summary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smimepub/audit.h"
#include "smimepub/ldif_in.h"
#include "smimepub/lookup.h"

#define T0 ((time_t)1780272000)   /* 2026-06-01T00:00:00Z */

static smp_trust *trust;
static char untrusted_path[] = "/tmp/smimepub-audit-int-XXXXXX";

static const char *pki(void)
{
	const char *dir = getenv("SMIMEPUB_PKI");

	assert_non_null(dir);
	return dir;
}

static void append_file(FILE *to, const char *name)
{
	char path[4096];
	char buf[4096];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", pki(), name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		assert_int_equal(fwrite(buf, 1, n, to), n);
	fclose(fp);
}

static int setup(void **state)
{
	smp_trust_options opts = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	char ca[4096];
	int fd = mkstemp(untrusted_path);
	FILE *fp;

	(void)state;
	if (fd < 0)
		return -1;
	fp = fdopen(fd, "w");
	append_file(fp, "intermediate.pem");
	append_file(fp, "other-intermediate.pem");
	fclose(fp);
	snprintf(ca, sizeof(ca), "%s/root.pem", pki());
	opts.ca_file = ca;
	opts.untrusted_file = untrusted_path;
	opts.at = T0;
	opts.warn_days = 30;
	opts.use_system_store = 0;
	if (smp_trust_new(&trust, &opts, &err) != 0) {
		fprintf(stderr, "trust: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	smp_trust_free(trust);
	unlink(untrusted_path);
	return 0;
}

/* A value: a PKI certificate as DER, or "garbage" (300 bytes), or "huge" (40,000 bytes). */
static struct berval value_of(const char *name)
{
	struct berval bv = { 0, NULL };
	char path[4096];
	unsigned char *der = NULL;
	X509 *x;
	FILE *fp;
	int n;

	if (strcmp(name, "garbage") == 0 || strcmp(name, "huge") == 0) {
		bv.bv_len = name[0] == 'g' ? 300 : 40000;
		bv.bv_val = malloc(bv.bv_len);
		for (size_t i = 0; i < bv.bv_len; i++)
			bv.bv_val[i] = (char)(i * 7 + 3);
		return bv;
	}
	snprintf(path, sizeof(path), "%s/%s", pki(), name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	n = i2d_X509(x, &der);
	X509_free(x);
	assert_true(n > 0);
	bv.bv_val = malloc((size_t)n);
	memcpy(bv.bv_val, der, (size_t)n);
	bv.bv_len = (size_t)n;
	OPENSSL_free(der);
	return bv;
}

static size_t count(const char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

static char **strings(const char *const *v, size_t *n)
{
	char **out;

	*n = count(v);
	out = calloc(*n + 1, sizeof(char *));
	for (size_t i = 0; i < *n; i++)
		out[i] = strdup(v[i]);
	return out;
}

/* An entry as the directory code builds it. */
static smp_entry *entry(const char *const *mail, const char *const *proxy,
			const char *const *certs, const char *const *smime)
{
	smp_entry *e = calloc(1, sizeof(*e));

	e->dn = strdup("cn=Test,ou=partners,dc=example,dc=test");
	e->mail = strings(mail, &e->n_mail);
	e->proxy = strings(proxy, &e->n_proxy);
	e->n_certs = count(certs);
	e->certs = calloc(e->n_certs + 1, sizeof(struct berval));
	e->cert_attrs = calloc(e->n_certs + 1, sizeof(char *));
	for (size_t i = 0; i < e->n_certs; i++) {
		e->certs[i] = value_of(certs[i]);
		e->cert_attrs[i] = strdup("userCertificate;binary");
	}
	e->n_smime = count(smime);
	e->smime = calloc(e->n_smime + 1, sizeof(struct berval));
	for (size_t i = 0; i < e->n_smime; i++)
		e->smime[i] = value_of(smime[i]);
	return e;
}

static smp_audit_entry *run(const smp_entry *e)
{
	smp_audit_entry *a = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (smp_audit_entry_run(&a, e, trust, &err) != 0)
		fail_msg("audit failed: %s", err.msg);
	assert_non_null(a);
	assert_ptr_equal(a->entry, e);
	assert_int_equal(a->n_values, e->n_certs);
	return a;
}

static int has(const smp_audit_entry *a, size_t i, const char *code)
{
	return smp_audit_value_problem(&a->values[i], code) != NULL;
}

static const char *const ALICE_MAIL[] = { "alice@partner.example", NULL };
#define A_ADDR "alice@partner.example"

/* ---- findings ----------------------------------------------------------------------------- */

static void test_clean_entry(void **state)
{
	const char *const certs[] = { "alice.pem", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a = run(e);
	const smp_problem *p;

	(void)state;
	assert_non_null(a->values[0].info);
	assert_int_equal(smp_audit_value_problems(&a->values[0], &p), 0);
	assert_int_equal(a->n_entry_problems, 0);
	assert_int_equal(smp_audit_entry_worst(a), SMP_SEV_NONE);
	assert_int_equal(a->values[0].index, 0);
	assert_int_equal(a->values[0].size, e->certs[0].bv_len);
	assert_string_equal(a->values[0].sha256, a->values[0].info->sha256);
	assert_string_equal(a->values[0].attr, "userCertificate;binary");
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_address_mismatch(void **state)
{
	const char *const mail[] = { "bob@partner.example", NULL };
	const char *const proxy[] = { "smtp:ALICE@partner.example", NULL };
	const char *const certs[] = { "alice.pem", NULL };
	smp_entry *e = entry(mail, NULL, certs, NULL);
	smp_entry *e2 = entry(mail, proxy, certs, NULL);
	smp_audit_entry *a = run(e), *a2 = run(e2);
	const smp_problem *p = smp_audit_value_problem(&a->values[0], "address_mismatch");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_CRITICAL);
	assert_non_null(strstr(p->message, "alice@partner.example"));
	assert_non_null(strstr(p->message, "bob@partner.example"));
	/* a secondary smtp: proxy address is one of the entry's addresses */
	assert_false(has(a2, 0, "address_mismatch"));
	smp_audit_entry_free(a);
	smp_audit_entry_free(a2);
	smp_entry_free(e);
	smp_entry_free(e2);
}

static void test_no_mail_attribute(void **state)
{
	const char *const proxy[] = { "SMTP:alice@partner.example", "X500:/o=x", NULL };
	const char *const certs[] = { "alice.pem", NULL };
	smp_entry *e = entry(NULL, proxy, certs, NULL);
	smp_audit_entry *a = run(e);
	const smp_problem *p = smp_audit_entry_problem(a, "no_mail_attribute");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_WARNING);
	assert_false(has(a, 0, "address_mismatch"));
	assert_int_equal(smp_audit_entry_worst(a), SMP_SEV_WARNING);
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_duplicate(void **state)
{
	const char *const certs[] = { "alice.pem", "alice-new.pem", "alice.pem", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a = run(e);

	(void)state;
	assert_false(has(a, 0, "duplicate"));
	assert_false(has(a, 1, "duplicate"));
	assert_true(has(a, 2, "duplicate"));
	assert_string_equal(a->values[0].sha256, a->values[2].sha256);
	assert_int_equal(smp_audit_value_problem(&a->values[2], "duplicate")->severity,
			 SMP_SEV_WARNING);
	smp_audit_entry_free(a);
	smp_entry_free(e);

	{
		/* a copy is not newer: neither copy is superseded, and prune takes neither */
		const char *const twice[] = { "alice.pem", "alice.pem", NULL };
		smp_prune_sel sel = SMP_PRUNE_SEL_INIT;
		smp_prune_pick *picks = NULL;
		size_t n = 1;
		smp_error err = SMP_ERROR_INIT;

		e = entry(ALICE_MAIL, NULL, twice, NULL);
		a = run(e);
		assert_true(has(a, 1, "duplicate"));
		assert_false(has(a, 0, "superseded"));
		assert_false(has(a, 1, "superseded"));
		assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
		assert_int_equal(n, 0);
		smp_audit_entry_free(a);
		smp_entry_free(e);
	}
}

static void test_superseded(void **state)
{
	const char *const mail[] = { "alice@partner.example", "bob@partner.example", NULL };
	const char *const certs[] = { "alice.pem", "bob-ec.pem", "alice-new.pem", NULL };
	smp_entry *e = entry(mail, NULL, certs, NULL);
	smp_audit_entry *a = run(e);
	const smp_problem *p = smp_audit_value_problem(&a->values[0], "superseded");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_WARNING);
	assert_non_null(strstr(p->message, "value 2"));
	assert_false(has(a, 1, "superseded"));   /* another address */
	assert_false(has(a, 2, "superseded"));   /* the newest */
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_expired_value_superseded(void **state)
{
	/* the old expired value is superseded; the valid one is not, by an older value */
	const char *const certs[] = { "alice-old-expired.pem", "alice.pem", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a = run(e);

	(void)state;
	assert_true(has(a, 0, "expired"));
	assert_true(has(a, 0, "superseded"));
	assert_false(has(a, 1, "superseded"));
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_too_many_values(void **state)
{
	const char *certs[18];
	smp_entry *e15, *e16;
	smp_audit_entry *a15, *a16;
	const smp_problem *p;

	(void)state;
	for (size_t i = 0; i < 17; i++)
		certs[i] = i % 2 ? "alice.pem" : "alice-new.pem";
	certs[15] = NULL;
	e15 = entry(ALICE_MAIL, NULL, certs, NULL);
	certs[15] = "bob-ec.pem";
	certs[16] = NULL;
	e16 = entry(ALICE_MAIL, NULL, certs, NULL);
	a15 = run(e15);
	a16 = run(e16);
	assert_null(smp_audit_entry_problem(a15, "too_many_values"));
	p = smp_audit_entry_problem(a16, "too_many_values");
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_WARNING);
	assert_non_null(strstr(p->message, "16"));
	/* reported once, on the entry, not per value */
	for (size_t i = 0; i < a16->n_values; i++)
		assert_false(has(a16, i, "too_many_values"));
	smp_audit_entry_free(a15);
	smp_audit_entry_free(a16);
	smp_entry_free(e15);
	smp_entry_free(e16);
}

static void test_malformed_and_too_large(void **state)
{
	const char *const certs[] = { "alice.pem", "garbage", "huge", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a = run(e);
	const smp_problem *p;

	(void)state;
	assert_null(a->values[1].info);
	p = smp_audit_value_problem(&a->values[1], "malformed");
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_CRITICAL);
	assert_non_null(strstr(p->message, "value 1"));
	assert_non_null(strstr(p->message, "300 bytes"));
	assert_int_equal(a->values[1].size, 300);
	assert_int_equal(strlen(a->values[1].sha256), 64);
	assert_true(has(a, 2, "malformed"));
	assert_true(has(a, 2, "too_large"));
	assert_false(has(a, 1, "too_large"));
	assert_false(has(a, 0, "too_large"));
	assert_int_equal(smp_audit_entry_worst(a), SMP_SEV_CRITICAL);
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_first_unusable(void **state)
{
	const char *const certs[] = { "alice-old-expired.pem", "alice.pem", NULL };
	const char *const good_first[] = { "alice.pem", "alice-old-expired.pem", NULL };
	const char *const none_usable[] = { "garbage", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_entry *e2 = entry(ALICE_MAIL, NULL, good_first, NULL);
	smp_entry *e3 = entry(ALICE_MAIL, NULL, none_usable, NULL);
	smp_audit_entry *a = run(e), *a2 = run(e2), *a3 = run(e3);
	const smp_problem *p = smp_audit_value_problem(&a->values[0], "first_unusable");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_CRITICAL);
	assert_non_null(strstr(p->message, "value 1"));
	assert_false(has(a, 1, "first_unusable"));
	assert_false(has(a2, 0, "first_unusable"));
	assert_false(has(a2, 1, "first_unusable"));
	assert_true(has(a3, 0, "first_unusable"));
	assert_true(has(a3, 0, "malformed"));
	smp_audit_entry_free(a);
	smp_audit_entry_free(a2);
	smp_audit_entry_free(a3);
	smp_entry_free(e);
	smp_entry_free(e2);
	smp_entry_free(e3);
}

static void test_smime_attr_shadows(void **state)
{
	const char *const certs[] = { "alice.pem", NULL };
	const char *const expired[] = { "alice-old-expired.pem", NULL };
	const char *const garbage[] = { "garbage", NULL };
	const char *const valid[] = { "alice.pem", NULL };
	smp_entry *e1 = entry(ALICE_MAIL, NULL, certs, expired);
	smp_entry *e2 = entry(ALICE_MAIL, NULL, certs, garbage);
	smp_entry *e3 = entry(ALICE_MAIL, NULL, certs, valid);
	smp_entry *e4 = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a1 = run(e1), *a2 = run(e2), *a3 = run(e3), *a4 = run(e4);
	const smp_problem *p = smp_audit_entry_problem(a1, "smime_attr_shadows");

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->severity, SMP_SEV_CRITICAL);
	assert_non_null(smp_audit_entry_problem(a2, "smime_attr_shadows"));
	assert_null(smp_audit_entry_problem(a3, "smime_attr_shadows"));
	assert_null(smp_audit_entry_problem(a4, "smime_attr_shadows"));
	smp_audit_entry_free(a1);
	smp_audit_entry_free(a2);
	smp_audit_entry_free(a3);
	smp_audit_entry_free(a4);
	smp_entry_free(e1);
	smp_entry_free(e2);
	smp_entry_free(e3);
	smp_entry_free(e4);
}

/* lookup judges an entry for one recipient with audit's findings and the client model. */
static void test_lookup_entry(void **state)
{
	const char *const certs[] = { "alice-old-expired.pem", "alice.pem", NULL };
	const char *const proxy[] = { "SMTP:alice@partner.example", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_entry *e2 = entry(NULL, proxy, certs, NULL);
	smp_lookup_result *r = NULL, *r2 = NULL, *r3 = NULL;
	smp_error err = SMP_ERROR_INIT;
	int first_unusable = 0;

	(void)state;
	assert_int_equal(smp_lookup_entry(&r, e, "alice@partner.example", 1, trust, &err), 0);
	assert_false(r->usable);
	assert_int_equal(r->n_values, 2);
	assert_false(r->values[0].usable);
	assert_false(r->values[0].chosen);
	assert_true(r->values[1].usable);
	assert_true(r->values[1].chosen);
	assert_int_equal(r->values[0].clients, (1u << SMP_CLIENT_OWA) | (1u << SMP_CLIENT_GPGSM) |
					       (1u << SMP_CLIENT_THUNDERBIRD));
	assert_int_equal(r->values[1].clients, (1u << SMP_CLIENT_OUTLOOK) |
					       (1u << SMP_CLIENT_THUNDERBIRD));
	/* first_unusable stays on value 0, where audit has it; the findings are the entry's */
	for (size_t i = 0; i < r->n_findings; i++)
		first_unusable |= strcmp(r->findings[i].code, "first_unusable") == 0;
	assert_false(first_unusable);
	assert_non_null(smp_audit_value_problem(&r->audit->values[0], "first_unusable"));
	for (size_t i = 0; i < r->values[0].n_problems; i++)
		first_unusable |= strcmp(r->values[0].problems[i].code, "first_unusable") == 0;
	assert_true(first_unusable);
	assert_int_equal(r->values[0].problems[0].remedy, SMP_REMEDY_NONE);
	/* OWA and gpgsm cannot encrypt: the verdict is critical, whatever Outlook does */
	assert_int_equal(r->severity, SMP_SEV_CRITICAL);
	assert_string_equal(r->reason, SMP_LOOKUP_SOME_CLIENTS);
	/* the same entry for another address: nothing on it is for Bob */
	assert_int_equal(smp_lookup_entry(&r3, e, "bob@partner.example", 2, trust, &err), 0);
	assert_false(r3->usable);
	assert_false(r3->values[1].usable);
	assert_string_equal(r3->findings[0].code, "ambiguous");
	assert_non_null(smp_audit_value_problem(&r3->audit->values[1], "address_mismatch"));
	/* found through proxyAddresses only: gpgsm and Thunderbird do not find it */
	assert_int_equal(smp_lookup_entry(&r2, e2, "alice@partner.example", 1, trust, &err), 0);
	assert_false(r2->usable);  /* OWA takes the expired first value */
	assert_int_equal(r2->encrypting, 1u << SMP_CLIENT_OUTLOOK);
	assert_non_null(smp_audit_entry_problem(r2->audit, "no_mail_attribute"));
	assert_int_equal(r2->picks[SMP_CLIENT_GPGSM].attr, SMP_ATTR_NONE);
	assert_int_equal(r2->picks[SMP_CLIENT_THUNDERBIRD].attr, SMP_ATTR_NONE);
	smp_lookup_result_free(r);
	smp_lookup_result_free(r2);
	smp_lookup_result_free(r3);
	smp_entry_free(e);
	smp_entry_free(e2);
}

/* What lookup's verdict is expected to be for one hand-made entry. */
struct lookup_case {
	const char *name;
	const char *const *mail, *const *proxy;
	const char *certs[4];
	const char *smime[2];
	const char *address;
	unsigned encrypting;      /* clients that encrypt */
	const char *reason;       /* NULL: all do */
	smp_severity severity;
	int usable;
	int chosen;               /* the index in res->values Outlook encrypts with, or -1 */
};

#define O (1u << SMP_CLIENT_OUTLOOK)
#define W (1u << SMP_CLIENT_OWA)
#define G (1u << SMP_CLIENT_GPGSM)
#define T (1u << SMP_CLIENT_THUNDERBIRD)

static const char *const BOB_MAIL[] = { "bob@partner.example", NULL };
static const char *const ALICE_PROXY[] = { "SMTP:alice@partner.example", NULL };

static const struct lookup_case lookup_cases[] = {
	{ "one good value", ALICE_MAIL, NULL, { "alice.pem" }, { NULL }, A_ADDR, O | W | G | T,
	  NULL, SMP_SEV_NONE, 1, 0 },
	{ "no certificate", ALICE_MAIL, NULL, { NULL }, { NULL }, A_ADDR, 0,
	  SMP_LOOKUP_NO_CERTIFICATE, SMP_SEV_CRITICAL, 0, -1 },
	{ "mismatching value only", ALICE_MAIL, NULL, { "bob-ec.pem" }, { NULL }, A_ADDR, 0,
	  SMP_LOOKUP_NO_USABLE, SMP_SEV_CRITICAL, 0, -1 },
	{ "mismatching value first", ALICE_MAIL, NULL, { "bob-ec.pem", "alice.pem" }, { NULL },
	  A_ADDR, O | T, SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_CRITICAL, 0, 1 },
	{ "expired first, then valid", ALICE_MAIL, NULL, { "alice-old-expired.pem", "alice.pem" },
	  { NULL }, A_ADDR, O | T, SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_CRITICAL, 0, 1 },
	{ "expired userSMIMECertificate before a valid userCertificate", ALICE_MAIL, NULL,
	  { "alice.pem" }, { "alice-old-expired.pem" }, A_ADDR, W | G | T,
	  SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_CRITICAL, 0, -1 },
	{ "valid userSMIMECertificate", ALICE_MAIL, NULL, { "alice.pem" }, { "alice-new.pem" },
	  A_ADDR, O | W | G | T, NULL, SMP_SEV_NONE, 1, 0 },
	{ "only in proxyAddresses", NULL, ALICE_PROXY, { "alice.pem" }, { NULL }, A_ADDR, O | W,
	  SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_WARNING, 1, 0 },
	{ "EC key: gpgsm 2.2 cannot", BOB_MAIL, NULL, { "bob-ec.pem" }, { NULL },
	  "bob@partner.example", O | W | T, SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_WARNING, 1, 0 },
	{ "not a certificate first", ALICE_MAIL, NULL, { "garbage", "alice.pem" }, { NULL },
	  A_ADDR, O | T, SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_CRITICAL, 0, 1 },
	{ "unreadable userSMIMECertificate", ALICE_MAIL, NULL, { "alice.pem" }, { "garbage" },
	  A_ADDR, W | G | T, SMP_LOOKUP_SOME_CLIENTS, SMP_SEV_CRITICAL, 0, -1 },
	{ "expired only", ALICE_MAIL, NULL, { "alice-old-expired.pem" }, { NULL }, A_ADDR, 0,
	  SMP_LOOKUP_NO_USABLE, SMP_SEV_CRITICAL, 0, -1 },
};

#undef O
#undef W
#undef G
#undef T

/*
 * Every case: the verdict reads from the lines above it. Each value's problems and severity
 * are audit's for the same recipient; a value that is not for the recipient is never chosen
 * nor encrypted with; the verdict's severity is at least that of every value a client
 * encrypts with and of every client's failure.
 */
static void test_lookup_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(lookup_cases) / sizeof(lookup_cases[0]); k++) {
		const struct lookup_case *t = &lookup_cases[k];
		smp_entry *e = entry(t->mail, t->proxy, t->certs, t->smime);
		smp_lookup_result *r = NULL;
		smp_audit_entry *a = NULL;
		smp_error err = SMP_ERROR_INIT;
		int chosen = -1;

		if (smp_lookup_entry(&r, e, t->address, 1, trust, &err) != 0)
			fail_msg("%s: %s", t->name, err.msg);
		assert_int_equal(smp_audit_entry_for(&a, e, t->address, trust, &err), 0);
		if (r->encrypting != t->encrypting)
			fail_msg("%s: clients encrypting %#x, want %#x", t->name, r->encrypting,
				 t->encrypting);
		if ((r->reason == NULL) != (t->reason == NULL) ||
		    (r->reason != NULL && strcmp(r->reason, t->reason) != 0))
			fail_msg("%s: reason %s, want %s", t->name, r->reason ? r->reason : "NULL",
				 t->reason ? t->reason : "NULL");
		if (r->severity != t->severity)
			fail_msg("%s: severity %d, want %d", t->name, r->severity, t->severity);
		assert_int_equal(r->usable, t->usable);
		assert_int_equal(r->n_values, e->n_smime + e->n_certs);
		for (size_t i = 0; i < r->n_values; i++) {
			const smp_lookup_value *v = &r->values[i];
			const smp_audit_value *av = v->kind == SMP_ATTR_SMIME
				? &a->smime[v->index] : &a->values[v->index];
			const smp_problem *p;
			size_t n = smp_audit_value_problems(av, &p);

			if (v->chosen)
				chosen = (int)i;
			/* numbered as audit numbers it, from 0 within the attribute */
			assert_int_equal(v->index, v->kind == SMP_ATTR_SMIME ? i : i - e->n_smime);
			/* the same problems as audit's, in the same order */
			assert_int_equal(v->n_problems, n);
			for (size_t j = 0; j < n; j++)
				assert_string_equal(v->problems[j].code, p[j].code);
			if (!v->usable) {
				assert_false(v->chosen);
				assert_int_equal(v->encrypted_by, 0);
			}
			if (v->encrypted_by != 0)
				assert_true(r->severity >= v->severity);
			assert_int_equal(v->encrypted_by & ~v->clients, 0);
		}
		if (chosen != t->chosen)
			fail_msg("%s: chosen %d, want %d", t->name, chosen, t->chosen);
		for (int c = 0; c < SMP_CLIENT_COUNT; c++)
			assert_true(r->severity >= smp_client_why_severity(r->picks[c].why));
		smp_audit_entry_free(a);
		smp_lookup_result_free(r);
		smp_entry_free(e);
	}
}

static void test_smime_pkcs7(void **state)
{
	char path[4096];
	FILE *fp;
	long size;
	const char *const certs[] = { "alice.pem", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a;

	(void)state;
	snprintf(path, sizeof(path), "%s/alice.p7b", pki());
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	free(e->smime);
	e->smime = calloc(2, sizeof(struct berval));
	e->smime[0].bv_val = malloc((size_t)size);
	e->smime[0].bv_len = fread(e->smime[0].bv_val, 1, (size_t)size, fp);
	e->n_smime = 1;
	fclose(fp);
	a = run(e);
	assert_null(smp_audit_entry_problem(a, "smime_attr_shadows"));
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

/* ---- prune selection ---------------------------------------------------------------------- */

static void test_prune_select(void **state)
{
	const char *const mail[] = { "alice@partner.example", "untrusted@partner.example",
				     "bob@partner.example", NULL };
	const char *const certs[] = { "alice-old-expired.pem", "alice.pem", "untrusted.pem",
				      "bob-ec.pem", "garbage", "alice-new.pem", NULL };
	smp_entry *e = entry(mail, NULL, certs, NULL);
	smp_audit_entry *a = run(e);
	smp_prune_sel sel = SMP_PRUNE_SEL_INIT;
	smp_prune_pick *picks = NULL;
	size_t n = 0;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_true(has(a, 2, "untrusted"));
	assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(picks[0].index, 0);
	assert_string_equal(picks[0].reason, "expired");
	assert_int_equal(picks[1].index, 1);
	assert_string_equal(picks[1].reason, "superseded");
	assert_int_equal(picks[2].index, 2);
	assert_string_equal(picks[2].reason, "untrusted");
	free(picks);

	/* only what is asked for; non-certificates only with the flag */
	sel.expired = 0;
	sel.superseded = 0;
	sel.malformed = 1;
	assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(picks[0].index, 2);
	assert_int_equal(picks[1].index, 4);
	assert_string_equal(picks[1].reason, "malformed");
	free(picks);

	memset(&sel, 0, sizeof(sel));
	assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
	assert_int_equal(n, 0);
	assert_null(picks);
	smp_audit_entry_free(a);
	smp_entry_free(e);
}

static void test_prune_never_removes_best(void **state)
{
	/* duplicates of a superseded value all go; the newest value always stays */
	const char *const certs[] = { "alice.pem", "alice-new.pem", "alice.pem", NULL };
	smp_entry *e = entry(ALICE_MAIL, NULL, certs, NULL);
	smp_audit_entry *a = run(e);
	smp_prune_sel sel = SMP_PRUNE_SEL_INIT;
	smp_prune_pick *picks = NULL;
	size_t n = 0;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
	/* both copies of alice.pem go as superseded; alice-new stays */
	assert_int_equal(n, 2);
	assert_int_equal(picks[0].index, 0);
	assert_int_equal(picks[1].index, 2);
	free(picks);
	smp_audit_entry_free(a);
	smp_entry_free(e);

	{
		const char *const only[] = { "expired.pem", NULL };
		const char *const m[] = { "expired@partner.example", NULL };

		e = entry(m, NULL, only, NULL);
		a = run(e);
		sel.expired = 0;
		assert_int_equal(smp_audit_prune_select(&picks, &n, a, &sel, &err), 0);
		assert_int_equal(n, 0);
		smp_audit_entry_free(a);
		smp_entry_free(e);
	}
}

/* ---- summary ------------------------------------------------------------------------------ */

static void add(smp_audit_summary *s, const smp_entry *e)
{
	smp_audit_entry *a = run(e);
	smp_error err = SMP_ERROR_INIT;

	assert_int_equal(smp_audit_summary_add(s, a, &err), 0);
	smp_audit_entry_free(a);
}

static void test_summary_exit_status(void **state)
{
	const char *const alice[] = { "alice.pem", NULL };
	const char *const expiring[] = { "expiring.pem", NULL };
	const char *const m_exp[] = { "expiring@partner.example", NULL };
	const char *const expired[] = { "expired.pem", NULL };
	const char *const m_old[] = { "expired@partner.example", NULL };
	smp_entry *clean = entry(ALICE_MAIL, NULL, alice, NULL);
	smp_entry *warn = entry(m_exp, NULL, expiring, NULL);
	smp_entry *crit = entry(m_old, NULL, expired, NULL);
	smp_audit_summary *s = NULL;
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	assert_int_equal(smp_audit_summary_new(&s, &err), 0);
	assert_int_equal(smp_audit_summary_exit_status(s), 0);
	add(s, clean);
	assert_int_equal(smp_audit_summary_exit_status(s), 0);
	add(s, warn);
	assert_int_equal(smp_audit_summary_exit_status(s), 1);
	assert_int_equal(smp_audit_summary_count(s, "expiring"), 1);
	add(s, crit);
	assert_int_equal(smp_audit_summary_exit_status(s), 2);
	add(s, warn);
	assert_int_equal(smp_audit_summary_entries(s), 4);
	assert_int_equal(smp_audit_summary_values(s), 4);
	assert_int_equal(smp_audit_summary_count(s, "expiring"), 2);
	assert_int_equal(smp_audit_summary_count(s, "expired"), 1);
	assert_int_equal(smp_audit_summary_count(s, "untrusted"), 0);
	assert_true(smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL) >= 1);
	assert_int_equal(smp_audit_summary_severity_count(s, SMP_SEV_WARNING), 2);
	{
		size_t total = 0, c = 0;
		int saw_expiring = 0;

		for (size_t i = 0; i < smp_audit_summary_n_codes(s); i++) {
			const char *code = smp_audit_summary_code(s, i, &c);

			total += c;
			saw_expiring |= strcmp(code, "expiring") == 0 && c == 2;
		}
		assert_true(saw_expiring);
		assert_int_equal(total, smp_audit_summary_severity_count(s, SMP_SEV_CRITICAL) +
				 smp_audit_summary_severity_count(s, SMP_SEV_WARNING));
		assert_null(smp_audit_summary_code(s, smp_audit_summary_n_codes(s), &c));
	}
	smp_audit_summary_free(s);
	smp_entry_free(clean);
	smp_entry_free(warn);
	smp_entry_free(crit);
}

static void test_summary_soonest(void **state)
{
	/* not after: expiring 2026-06-15, leaves 2027-01-01, notyet and alice-new 2028 */
	const char *const names[] = { "alice-new.pem", "alice.pem", "bob-ec.pem", "expired.pem",
				      "notyet.pem", "carol-sanonly.pem", "expiring.pem",
				      "noeku.pem", "enconly.pem", "sha1.pem", "missing-int.pem",
				      "idn.pem", "alice-old-expired.pem", "garbage", NULL };
	smp_audit_summary *s = NULL;
	smp_error err = SMP_ERROR_INIT;
	const smp_audit_expiry *first, *prev = NULL;

	(void)state;
	assert_int_equal(smp_audit_summary_new(&s, &err), 0);
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *const one[] = { names[i], NULL };
		smp_entry *e = entry(ALICE_MAIL, NULL, one, NULL);

		add(s, e);
		smp_entry_free(e);
	}
	assert_int_equal(smp_audit_summary_entries(s), 14);
	assert_int_equal(smp_audit_summary_n_soonest(s), SMP_AUDIT_SOONEST);
	first = smp_audit_summary_soonest(s, 0);
	assert_non_null(first);
	assert_non_null(strstr(first->subject, "xpiring"));
	assert_string_equal(first->dn, "cn=Test,ou=partners,dc=example,dc=test");
	assert_int_equal(strlen(first->sha256), 64);
	for (size_t i = 0; i < smp_audit_summary_n_soonest(s); i++) {
		const smp_audit_expiry *x = smp_audit_summary_soonest(s, i);

		assert_true(x->not_after > T0);   /* expired ones are never listed */
		if (prev != NULL)
			assert_true(prev->not_after <= x->not_after);
		prev = x;
	}
	/* 11 are not expired: the latest (alice-new, 2028-03-01) falls off the 10 kept */
	for (size_t i = 0; i < smp_audit_summary_n_soonest(s); i++)
		assert_true(smp_audit_summary_soonest(s, i)->not_after < T0 + 600 * 86400);
	assert_null(smp_audit_summary_soonest(s, SMP_AUDIT_SOONEST));
	smp_audit_summary_free(s);
}

/* ---- from LDIF to findings ---------------------------------------------------------------- */

struct ldif_run {
	smp_audit_summary *s;
	size_t mismatches;
};

static int audit_one(const smp_entry *e, void *ctx)
{
	struct ldif_run *lr = ctx;
	smp_audit_entry *a = run(e);
	smp_error err = SMP_ERROR_INIT;

	for (size_t i = 0; i < a->n_values; i++)
		lr->mismatches += has(a, i, "address_mismatch");
	assert_int_equal(smp_audit_summary_add(lr->s, a, &err), 0);
	smp_audit_entry_free(a);
	return 0;
}

static void test_ldifde_export_audited(void **state)
{
	struct berval alice = value_of("alice.pem"), old = value_of("alice-old-expired.pem");
	char *a64 = malloc(4 * (alice.bv_len / 3 + 2)), *o64 = malloc(4 * (old.bv_len / 3 + 2));
	char *text = NULL;
	struct ldif_run lr = { 0 };
	smp_error err = SMP_ERROR_INIT;

	(void)state;
	EVP_EncodeBlock((unsigned char *)a64, (unsigned char *)alice.bv_val, (int)alice.bv_len);
	EVP_EncodeBlock((unsigned char *)o64, (unsigned char *)old.bv_val, (int)old.bv_len);
	assert_true(asprintf(&text,
			     "dn: CN=Alice,OU=Contacts,DC=example,DC=test\r\nchangetype: add\r\n"
			     "proxyAddresses: SMTP:alice@partner.example\r\n"
			     "userCertificate:: %s\r\nuserCertificate:: %s\r\n\r\n"
			     "dn: CN=Bob,OU=Contacts,DC=example,DC=test\r\nchangetype: add\r\n"
			     "mail: bob@partner.example\r\nuserCertificate:: %s\r\n",
			     o64, a64, a64) > 0);
	assert_int_equal(smp_audit_summary_new(&lr.s, &err), 0);
	assert_int_equal(smp_ldif_walk_mem(text, strlen(text), audit_one, &lr, &err), 0);
	assert_int_equal(smp_audit_summary_entries(lr.s), 2);
	assert_int_equal(smp_audit_summary_values(lr.s), 3);
	assert_int_equal(lr.mismatches, 1);
	assert_int_equal(smp_audit_summary_count(lr.s, "no_mail_attribute"), 1);
	/* Alice's expired first value, and Bob's only value, which is Alice's (SPEC §4: a value
	   not for the recipient is never usable for it, in audit as in lookup) */
	assert_int_equal(smp_audit_summary_count(lr.s, "first_unusable"), 2);
	assert_int_equal(smp_audit_summary_count(lr.s, "expired"), 1);
	assert_int_equal(smp_audit_summary_exit_status(lr.s), 2);
	smp_audit_summary_free(lr.s);
	free(text);
	free(a64);
	free(o64);
	free(alice.bv_val);
	free(old.bv_val);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_entry),
		cmocka_unit_test(test_address_mismatch),
		cmocka_unit_test(test_no_mail_attribute),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_superseded),
		cmocka_unit_test(test_expired_value_superseded),
		cmocka_unit_test(test_too_many_values),
		cmocka_unit_test(test_malformed_and_too_large),
		cmocka_unit_test(test_first_unusable),
		cmocka_unit_test(test_smime_attr_shadows),
		cmocka_unit_test(test_lookup_entry),
		cmocka_unit_test(test_lookup_table),
		cmocka_unit_test(test_smime_pkcs7),
		cmocka_unit_test(test_prune_select),
		cmocka_unit_test(test_prune_never_removes_best),
		cmocka_unit_test(test_summary_exit_status),
		cmocka_unit_test(test_summary_soonest),
		cmocka_unit_test(test_ldifde_export_audited),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
