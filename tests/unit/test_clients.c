/*
 * Unit tests for the client model (lib/policy/clients.c): which value Outlook, OWA, gpgsm and
 * Thunderbird take (SPEC §4), and the one definition of "usable". Analyses are built by hand:
 * the model reads only their public fields and problems.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smimepub/clients.h"

#define A "alice@partner.example"

/* A certificate for addr that can encrypt, with the problem code when not NULL. */
static smp_certinfo *cert(const char *addr, const char *problem)
{
	smp_certinfo *ci = calloc(1, sizeof(*ci));

	assert_non_null(ci);
	ci->emails = calloc(1, sizeof(*ci->emails));
	assert_non_null(ci->emails);
	ci->emails[0] = strdup(addr);
	ci->n_emails = 1;
	ci->can_encrypt = ci->can_sign = ci->email_protection = 1;
	snprintf(ci->key_type, sizeof(ci->key_type), "RSA");
	if (problem != NULL)
		assert_int_equal(smp_certinfo_add_problem(ci, problem, "%s", problem), 0);
	return ci;
}

static void pick(smp_client_pick p[SMP_CLIENT_COUNT], smp_certinfo **smime, size_t n_smime,
		 smp_certinfo **certs, size_t n_certs, const char *addr, int in_mail)
{
	smp_client_input in = { (const smp_certinfo *const *)smime, n_smime,
				(const smp_certinfo *const *)certs, n_certs, addr, in_mail };

	smp_clients_pick(p, &in);
}

static void assert_pick(const smp_client_pick *p, smp_cert_attr attr, size_t index,
			int encrypts)
{
	assert_int_equal(p->attr, attr);
	if (attr != SMP_ATTR_NONE)
		assert_int_equal(p->index, index);
	assert_int_equal(p->encrypts, encrypts);
}

static void free_all(smp_certinfo **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		smp_certinfo_free(v[i]);
}

static void test_usable(void **state)
{
	const char *const bad[] = { "expired", "not_yet_valid", "revoked", "malformed" };
	smp_certinfo *ci = cert(A, NULL);

	(void)state;
	assert_false(smp_cert_usable(NULL));
	assert_true(smp_cert_usable(ci));
	assert_true(smp_cert_usable_for(ci, A));
	assert_true(smp_cert_usable_for(ci, "ALICE@Partner.Example"));
	assert_false(smp_cert_usable_for(ci, "bob@partner.example"));
	assert_true(smp_cert_usable_for(ci, NULL));
	ci->can_encrypt = 0;
	assert_false(smp_cert_usable(ci));
	ci->can_encrypt = 1;
	ci->email_protection = 0;
	assert_false(smp_cert_usable(ci));
	smp_certinfo_free(ci);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ci = cert(A, bad[i]);
		assert_false(smp_cert_usable(ci));
		smp_certinfo_free(ci);
	}
	/* warnings do not make a certificate unusable */
	ci = cert(A, "expiring");
	assert_true(smp_cert_usable(ci));
	smp_certinfo_free(ci);
	/* without a recipient, audit's address_mismatch stands for "not for this entry" */
	ci = cert(A, "address_mismatch");
	assert_true(smp_cert_usable(ci));
	assert_false(smp_cert_usable_for(ci, NULL));
	smp_certinfo_free(ci);
}

/* Outlook reads userSMIMECertificate first and never falls back to userCertificate. */
static void test_expired_smime_before_valid_cert(void **state)
{
	smp_certinfo *smime[] = { cert(A, "expired") };
	smp_certinfo *certs[] = { cert(A, NULL) };
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, smime, 1, certs, 1, A, 1);
	/* it reads the expired one and fails: it never falls back to userCertificate */
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, 0, 0);
	assert_string_equal(p[SMP_CLIENT_OUTLOOK].why, "expired");
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 1);
	assert_pick(&p[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 1);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 0, 1);
	/* a usable userSMIMECertificate value is what Outlook takes */
	smp_certinfo_free(smime[0]);
	smime[0] = cert(A, NULL);
	pick(p, smime, 1, certs, 1, A, 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, 0, 1);
	free_all(smime, 1);
	free_all(certs, 1);
}

/* OWA and gpgsm take the first value; Outlook and Thunderbird find the usable one. */
static void test_expired_first_value(void **state)
{
	smp_certinfo *certs[] = { cert(A, "expired"), cert(A, NULL), cert(A, NULL) };
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, NULL, 0, certs, 3, A, 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, 1, 1);
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 1, 1);
	assert_int_equal(p[SMP_CLIENT_OWA].n_taken, 1);
	free_all(certs, 3);
}

/* A value for another address is never usable for the recipient. */
static void test_address_mismatch(void **state)
{
	smp_certinfo *certs[] = { cert("bob@partner.example", NULL), cert(A, NULL) };
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, NULL, 0, certs, 2, A, 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, 1, 1);
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 1, 1);
	/* for Bob, the same entry works with OWA and gpgsm, and Outlook takes Bob's */
	pick(p, NULL, 0, certs, 2, "bob@partner.example", 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, 0, 1);
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 1);
	/* only Bob's: nobody can encrypt to Alice */
	pick(p, NULL, 0, certs, 1, A, 1);
	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		assert_false(p[c].encrypts);
	assert_int_equal(p[SMP_CLIENT_OUTLOOK].attr, SMP_ATTR_NONE);
	free_all(certs, 2);
}

/* A value that is not a certificate (NULL analysis) is taken by OWA and gpgsm, and fails. */
static void test_malformed_value(void **state)
{
	smp_certinfo *certs[] = { NULL, cert(A, NULL) };
	smp_certinfo *smime[] = { NULL };
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, NULL, 0, certs, 2, A, 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, 1, 1);
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_GPGSM], SMP_ATTR_CERT, 0, 0);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 1, 1);
	/* an unreadable userSMIMECertificate still hides userCertificate from Outlook */
	pick(p, smime, 1, certs, 2, A, 1);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_SMIME, 0, 0);
	assert_string_equal(p[SMP_CLIENT_OUTLOOK].why, "malformed");
	free_all(certs, 2);
}

/* Thunderbird imports every value found for mail; gpgsm and Thunderbird look up mail only. */
static void test_thunderbird_every_value(void **state)
{
	smp_certinfo *certs[] = { cert(A, "expired"), cert(A, "revoked"), cert(A, NULL) };
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, NULL, 0, certs, 3, A, 1);
	assert_int_equal(p[SMP_CLIENT_THUNDERBIRD].n_taken, 3);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 2, 1);
	/* nothing usable: it takes them all and cannot encrypt */
	pick(p, NULL, 0, certs, 2, A, 1);
	assert_int_equal(p[SMP_CLIENT_THUNDERBIRD].n_taken, 2);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_CERT, 0, 0);
	/* the address only in proxyAddresses: gpgsm and Thunderbird find nothing */
	pick(p, NULL, 0, certs, 3, A, 0);
	assert_pick(&p[SMP_CLIENT_GPGSM], SMP_ATTR_NONE, 0, 0);
	assert_pick(&p[SMP_CLIENT_THUNDERBIRD], SMP_ATTR_NONE, 0, 0);
	assert_int_equal(p[SMP_CLIENT_THUNDERBIRD].n_taken, 0);
	assert_pick(&p[SMP_CLIENT_OUTLOOK], SMP_ATTR_CERT, 2, 1);
	assert_pick(&p[SMP_CLIENT_OWA], SMP_ATTR_CERT, 0, 0);
	free_all(certs, 3);
}

static void test_empty_entry(void **state)
{
	smp_client_pick p[SMP_CLIENT_COUNT];

	(void)state;
	pick(p, NULL, 0, NULL, 0, A, 1);
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		assert_int_equal(p[c].attr, SMP_ATTR_NONE);
		assert_false(p[c].encrypts);
	}
	assert_string_equal(smp_client_name(SMP_CLIENT_OUTLOOK), "outlook");
	assert_string_equal(smp_client_name(SMP_CLIENT_THUNDERBIRD), "thunderbird");
}

/*
 * A value by a short name: "A" Alice's, usable, RSA; "B" Bob's; "Aec" Alice's with an EC key;
 * "Aexp" expired, "Anew" not yet valid, "Arev" revoked, "Anoenc" no encryption, "Anoeku"
 * no e-mail protection; "X" not a certificate (NULL); "Bexp" Bob's, expired.
 */
static smp_certinfo *named(const char *name)
{
	smp_certinfo *ci;

	if (strcmp(name, "X") == 0)
		return NULL;
	ci = cert(name[0] == 'B' ? "bob@partner.example" : A,
		  strstr(name, "exp") ? "expired" : strstr(name, "new") ? "not_yet_valid"
		  : strstr(name, "rev") ? "revoked" : NULL);
	if (strstr(name, "ec"))
		snprintf(ci->key_type, sizeof(ci->key_type), "EC");
	if (strstr(name, "noenc"))
		ci->can_encrypt = 0;
	if (strstr(name, "noeku"))
		ci->email_protection = 0;
	return ci;
}

/* What one client is expected to do: "-" takes nothing; "C0" userCertificate index 0, "S0"
   userSMIMECertificate index 0; then "+" it encrypts, or ":" and the code of why not. */
struct client_case {
	const char *name;
	const char *smime[3];
	const char *certs[4];
	int in_mail;
	const char *expect[SMP_CLIENT_COUNT];  /* Outlook, OWA, gpgsm, Thunderbird */
};

static const struct client_case client_cases[] = {
	{ "one good value", { NULL }, { "A", NULL }, 1, { "C0+", "C0+", "C0+", "C0+" } },
	{ "no value at all", { NULL }, { NULL }, 1,
	  { "-:no_certificate", "-:no_certificate", "-:no_certificate", "-:no_certificate" } },
	{ "only a mismatching value", { NULL }, { "B", NULL }, 1,
	  { "-:no_usable_certificate", "C0:address_mismatch", "C0:address_mismatch",
	    "C0:address_mismatch" } },
	{ "mismatching value first", { NULL }, { "B", "A", NULL }, 1,
	  { "C1+", "C0:address_mismatch", "C0:address_mismatch", "C1+" } },
	{ "expired first, then valid", { NULL }, { "Aexp", "A", NULL }, 1,
	  { "C1+", "C0:expired", "C0:expired", "C1+" } },
	{ "expired for someone else: expired first", { NULL }, { "Bexp", NULL }, 1,
	  { "-:no_usable_certificate", "C0:expired", "C0:expired", "C0:expired" } },
	{ "expired userSMIMECertificate before a valid userCertificate", { "Aexp", NULL },
	  { "A", NULL }, 1, { "S0:expired", "C0+", "C0+", "C0+" } },
	{ "mismatching userSMIMECertificate", { "B", NULL }, { "A", NULL }, 1,
	  { "S0:address_mismatch", "C0+", "C0+", "C0+" } },
	{ "unreadable userSMIMECertificate", { "X", NULL }, { "A", NULL }, 1,
	  { "S0:malformed", "C0+", "C0+", "C0+" } },
	{ "second userSMIMECertificate usable", { "Aexp", "A", NULL }, { NULL }, 1,
	  { "S1+", "-:no_certificate", "-:no_certificate", "-:no_certificate" } },
	{ "userSMIMECertificate only", { "A", NULL }, { NULL }, 1,
	  { "S0+", "-:no_certificate", "-:no_certificate", "-:no_certificate" } },
	{ "not a certificate first", { NULL }, { "X", "A", NULL }, 1,
	  { "C1+", "C0:malformed", "C0:malformed", "C1+" } },
	{ "only in proxyAddresses", { NULL }, { "A", NULL }, 0,
	  { "C0+", "C0+", "-:no_mail_attribute", "-:no_mail_attribute" } },
	{ "only in proxyAddresses, no value", { NULL }, { NULL }, 0,
	  { "-:no_certificate", "-:no_certificate", "-:no_mail_attribute",
	    "-:no_mail_attribute" } },
	{ "EC key: gpgsm 2.2 cannot", { NULL }, { "Aec", NULL }, 1,
	  { "C0+", "C0+", "C0:gpgsm_ec_key", "C0+" } },
	{ "EC key first, RSA second", { NULL }, { "Aec", "A", NULL }, 1,
	  { "C0+", "C0+", "C0:gpgsm_ec_key", "C0+" } },
	{ "not yet valid", { NULL }, { "Anew", NULL }, 1,
	  { "-:no_usable_certificate", "C0:not_yet_valid", "C0:not_yet_valid",
	    "C0:not_yet_valid" } },
	{ "revoked first", { NULL }, { "Arev", "A", NULL }, 1,
	  { "C1+", "C0:revoked", "C0:revoked", "C1+" } },
	{ "signing only", { NULL }, { "Anoenc", NULL }, 1,
	  { "-:no_usable_certificate", "C0:no_encryption", "C0:no_encryption",
	    "C0:no_encryption" } },
	{ "no e-mail protection", { NULL }, { "Anoeku", NULL }, 1,
	  { "-:no_usable_certificate", "C0:no_email_protection", "C0:no_email_protection",
	    "C0:no_email_protection" } },
	{ "expired and mismatching: Thunderbird says whose", { NULL }, { "Aexp", "B", NULL }, 1,
	  { "-:no_usable_certificate", "C0:expired", "C0:expired", "C0:address_mismatch" } },
};

static size_t load(smp_certinfo **out, const char *const *names, size_t max)
{
	size_t n = 0;

	while (n < max && names[n] != NULL) {
		out[n] = named(names[n]);
		n++;
	}
	return n;
}

/* Every case: what each client takes, whether it encrypts, why not, and how much that weighs. */
static void test_client_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(client_cases) / sizeof(client_cases[0]); k++) {
		const struct client_case *t = &client_cases[k];
		smp_certinfo *smime[3] = { NULL }, *certs[4] = { NULL };
		size_t ns = load(smime, t->smime, 3), nc = load(certs, t->certs, 4);
		smp_client_pick p[SMP_CLIENT_COUNT];

		pick(p, smime, ns, certs, nc, A, t->in_mail);
		for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
			char got[64];

			if (p[c].attr == SMP_ATTR_NONE)
				snprintf(got, sizeof(got), "-");
			else
				snprintf(got, sizeof(got), "%c%zu",
					 p[c].attr == SMP_ATTR_SMIME ? 'S' : 'C', p[c].index);
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
				 p[c].encrypts ? "+" : ":", p[c].why ? p[c].why : "");
			if (strcmp(got, t->expect[c]) != 0)
				fail_msg("%s: %s: got %s, want %s", t->name,
					 smp_client_name((smp_client)c), got, t->expect[c]);
			/* encrypts and why always agree */
			assert_int_equal(p[c].encrypts, p[c].why == NULL);
		}
		free_all(smime, ns);
		free_all(certs, nc);
	}
	assert_int_equal(smp_client_why_severity(NULL), SMP_SEV_NONE);
	assert_int_equal(smp_client_why_severity("no_mail_attribute"), SMP_SEV_WARNING);
	assert_int_equal(smp_client_why_severity("gpgsm_ec_key"), SMP_SEV_WARNING);
	assert_int_equal(smp_client_why_severity("address_mismatch"), SMP_SEV_CRITICAL);
	assert_int_equal(smp_client_why_severity("expired"), SMP_SEV_CRITICAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_expired_smime_before_valid_cert),
		cmocka_unit_test(test_expired_first_value),
		cmocka_unit_test(test_address_mismatch),
		cmocka_unit_test(test_malformed_value),
		cmocka_unit_test(test_thunderbird_every_value),
		cmocka_unit_test(test_empty_entry),
		cmocka_unit_test(test_client_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
