/* Unit tests for the pure publish / remove planner (lib/policy/plan.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <openssl/sha.h>

#include "smimepub/audit.h"
#include "smimepub/clients.h"
#include "smimepub/plan.h"

#define T0 ((time_t)1780272000) /* 2026-06-01T00:00:00Z */
#define DAY ((time_t)86400)

/* A hand-made certificate value: DER-like bytes (with NUL bytes) and its analysis. */
typedef struct fake {
	smp_certinfo ci;
	char *emails[2];
	smp_problem problems[4];
	unsigned char bytes[16];
	struct berval bv;
	int is_cert;
} fake;

static void fake_init(fake *f, unsigned char tag, const char *email, time_t not_after)
{
	memset(f, 0, sizeof(*f));
	f->bytes[0] = 0x30;
	f->bytes[1] = 0x0e;
	f->bytes[2] = 0x00;
	f->bytes[3] = tag;
	memset(f->bytes + 4, tag, sizeof(f->bytes) - 4);
	f->bv.bv_val = (char *)f->bytes;
	f->bv.bv_len = sizeof(f->bytes);
	f->is_cert = 1;
	f->emails[0] = (char *)email;
	f->ci.emails = f->emails;
	f->ci.n_emails = email != NULL ? 1 : 0;
	f->ci.not_before = not_after - 365 * DAY;
	f->ci.not_after = not_after;
	f->ci.can_encrypt = 1;
	f->ci.can_sign = 1;
	f->ci.email_protection = 1;
	f->ci.problems = f->problems;
	snprintf(f->ci.sha256, sizeof(f->ci.sha256), "%064x", tag);
}

/* A value that is not a certificate. */
static void fake_junk(fake *f, unsigned char tag)
{
	fake_init(f, tag, NULL, 0);
	f->is_cert = 0;
}

static void fake_problem(fake *f, const char *code, smp_severity sev)
{
	assert_true(f->ci.n_problems < 4);
	f->problems[f->ci.n_problems].code = code;
	f->problems[f->ci.n_problems].severity = sev;
	f->ci.n_problems++;
}

static void fake_expired(fake *f)
{
	f->ci.not_after = T0 - 10 * DAY;
	f->ci.not_before = T0 - 375 * DAY;
	fake_problem(f, "expired", SMP_SEV_CRITICAL);
}

/* An entry's existing values built from fakes, in order. */
typedef struct entry {
	struct berval values[16];
	smp_certinfo *info[16];
	smp_existing ex;
} entry;

static const smp_existing *entry_of(entry *e, fake *const *v, size_t n)
{
	size_t i;

	assert_true(n <= 16);
	for (i = 0; i < n; i++) {
		e->values[i] = v[i]->bv;
		e->info[i] = v[i]->is_cert ? &v[i]->ci : NULL;
	}
	e->ex.values = e->values;
	e->ex.info = e->info;
	e->ex.n = n;
	return &e->ex;
}

static void assert_vals(const struct berval *got, size_t n_got, fake *const *want, size_t n_want)
{
	size_t i;

	assert_int_equal(n_got, n_want);
	for (i = 0; i < n_want; i++) {
		assert_int_equal(got[i].bv_len, want[i]->bv.bv_len);
		assert_memory_equal(got[i].bv_val, want[i]->bv.bv_val, want[i]->bv.bv_len);
	}
}

#define ENTRY(e, ...) entry_of((e), (fake *const[]){ __VA_ARGS__ }, \
	sizeof((fake *const[]){ __VA_ARGS__ }) / sizeof(fake *))
#define VALS(...) (fake *const[]){ __VA_ARGS__ }, sizeof((fake *const[]){ __VA_ARGS__ }) / sizeof(fake *)

static const smp_existing empty_entry = { NULL, NULL, 0 };

static smp_plan *publish(const smp_existing *ex, fake *nf, int add, int replace, int prune,
			 int force)
{
	smp_policy pol = SMP_POLICY_INIT;
	smp_plan *p = (smp_plan *)1;

	pol.add = add;
	pol.replace = replace;
	pol.prune_expired = prune;
	pol.force = force;
	assert_int_equal(smp_plan_publish(&p, ex, &nf->bv, &nf->ci, &pol), 0);
	assert_non_null(p);
	return p;
}

/* ---- publish ------------------------------------------------------------------------------ */

static void test_action_names(void **state)
{
	(void)state;
	assert_string_equal(smp_action_name(SMP_ACT_UNCHANGED), "unchanged");
	assert_string_equal(smp_action_name(SMP_ACT_PUBLISHED), "published");
	assert_string_equal(smp_action_name(SMP_ACT_REPLACED), "replaced");
	assert_string_equal(smp_action_name(SMP_ACT_REMOVED), "removed");
	assert_string_equal(smp_action_name(SMP_ACT_REORDERED), "reordered");
	assert_string_equal(smp_action_name(SMP_ACT_SKIPPED), "skipped");
}

static void test_empty_entry(void **state)
{
	fake n;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	p = publish(&empty_entry, &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_null(p->reason);
	assert_int_equal(p->n_del, 0);
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	p = publish(entry_of(&e, NULL, 0), &n, 0, 1, 1, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);
}

static void test_same_cert_twice(void **state)
{
	fake n, copy;
	smp_plan *p;
	entry e;
	int pol;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	/* the value read back from the directory: same bytes, different storage */
	fake_init(&copy, 1, "alice@partner.example", T0 + 365 * DAY);
	for (pol = 0; pol < 16; pol++) {
		p = publish(ENTRY(&e, &copy), &n, pol & 1, pol & 2, pol & 4, pol & 8);
		assert_int_equal(p->action, SMP_ACT_UNCHANGED);
		assert_string_equal(p->reason, "already_published");
		assert_int_equal(p->n_del, 0);
		assert_int_equal(p->n_add, 0);
		smp_plan_free(p);
	}
}

static void test_other_cert_refused(void **state)
{
	fake n, old, bob;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&old, 2, "alice@partner.example", T0 + 100 * DAY);
	fake_init(&bob, 3, "bob@partner.example", T0 + 100 * DAY);

	p = publish(ENTRY(&e, &old), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "already_has_certificate");
	assert_int_equal(p->n_del, 0);
	assert_int_equal(p->n_add, 0);
	smp_plan_free(p);

	/* literally any other certificate refuses, whatever its address */
	p = publish(ENTRY(&e, &bob), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "already_has_certificate");
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);

	/* --force is about problems, not about other certificates */
	p = publish(ENTRY(&e, &old), &n, 0, 0, 0, 1);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "already_has_certificate");
	smp_plan_free(p);
}

static void test_non_certificate_does_not_refuse(void **state)
{
	fake n, junk;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_junk(&junk, 9);
	p = publish(ENTRY(&e, &junk), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	/* the junk value must not stay first: it is deleted and added back behind */
	assert_vals(p->del, p->n_del, VALS(&junk));
	assert_vals(p->add, p->n_add, VALS(&n, &junk));
	smp_plan_free(p);

	/* --replace never removes a value that is not a certificate */
	p = publish(ENTRY(&e, &junk), &n, 0, 1, 1, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->add, p->n_add, VALS(&n, &junk));
	smp_plan_free(p);
}

static void test_add_keeps_both(void **state)
{
	fake n, older, later;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&older, 2, "alice@partner.example", T0 + 100 * DAY);
	fake_init(&later, 3, "alice@partner.example", T0 + 700 * DAY);

	/* existing later certificate stays first: plain add */
	p = publish(ENTRY(&e, &later), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_int_equal(p->n_del, 0);
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* the new one is better: it goes first, the old one is moved behind it */
	p = publish(ENTRY(&e, &older), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->del, p->n_del, VALS(&older));
	assert_vals(p->add, p->n_add, VALS(&n, &older));
	smp_plan_free(p);

	/* idempotent: the entry as it is afterwards needs nothing */
	p = publish(ENTRY(&e, &n, &older), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);
}

static void test_replace(void **state)
{
	fake n, old, old2, bob, junk;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&old, 2, "alice@partner.example", T0 + 100 * DAY);
	fake_init(&old2, 3, "Alice@Partner.Example", T0 + 800 * DAY);
	fake_init(&bob, 4, "bob@partner.example", T0 + 100 * DAY);
	fake_junk(&junk, 5);

	p = publish(ENTRY(&e, &old), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&old));
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* same address compared case-insensitively; one that stays valid longer is not lost
	   (downgrade) unless forced */
	p = publish(ENTRY(&e, &old, &old2), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "downgrade");
	assert_int_equal(p->lost, 1);
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);
	p = publish(ENTRY(&e, &old, &old2), &n, 0, 1, 0, 1);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&old, &old2));
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* other addresses and non-certificates stay; new first, their order kept */
	p = publish(ENTRY(&e, &bob, &old, &junk), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_int_equal(p->n_removed, 1);
	assert_vals(p->del, p->n_del, VALS(&old, &bob, &junk));
	assert_vals(p->add, p->n_add, VALS(&n, &bob, &junk));
	smp_plan_free(p);

	/* nothing for the address to replace: a plain publish */
	p = publish(ENTRY(&e, &bob), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->del, p->n_del, VALS(&bob));
	assert_vals(p->add, p->n_add, VALS(&n, &bob));
	smp_plan_free(p);

	/* the new certificate already there: the others for the address go, it stays */
	p = publish(ENTRY(&e, &old, &n), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_vals(p->del, p->n_del, VALS(&old));
	assert_int_equal(p->n_add, 0);
	smp_plan_free(p);
}

static void test_downgrade(void **state)
{
	fake n, longer, expired_longer, untrusted_longer, unusable_longer;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&longer, 2, "alice@partner.example", T0 + 700 * DAY);
	fake_init(&expired_longer, 3, "alice@partner.example", T0 + 900 * DAY);
	fake_problem(&expired_longer, "expired", SMP_SEV_CRITICAL);
	fake_init(&untrusted_longer, 4, "alice@partner.example", T0 + 900 * DAY);
	fake_problem(&untrusted_longer, "untrusted", SMP_SEV_CRITICAL);
	fake_init(&unusable_longer, 5, "alice@partner.example", T0 + 900 * DAY);
	unusable_longer.ci.can_encrypt = 0;

	/* a sound, usable certificate valid longer than the new one: refused, which one named */
	p = publish(ENTRY(&e, &unusable_longer, &longer), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "downgrade");
	assert_int_equal(p->lost, 1);
	smp_plan_free(p);
	/* replacing bad or unusable ones, however long they run, is no downgrade */
	p = publish(ENTRY(&e, &expired_longer, &untrusted_longer, &unusable_longer), &n, 0, 1, 0,
		    0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_int_equal(p->n_removed, 3);
	smp_plan_free(p);
	/* a new certificate that is not usable loses even to a shorter-lived usable one */
	n.ci.can_encrypt = 0;
	longer.ci.not_after = T0 + 10 * DAY;
	p = publish(ENTRY(&e, &longer), &n, 0, 1, 0, 0);
	assert_string_equal(p->reason, "downgrade");
	smp_plan_free(p);
	/* without --replace nothing is taken off: the old rule (already_has_certificate) */
	n.ci.can_encrypt = 1;
	p = publish(ENTRY(&e, &longer), &n, 0, 0, 0, 0);
	assert_string_equal(p->reason, "already_has_certificate");
	smp_plan_free(p);
}

/* Inputs of one run: which one is published for each address, in every input order. */
static void test_run_best(void **state)
{
	fake f[5];
	smp_certinfo *infos[5];
	size_t winner[5];
	static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
					 { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };

	(void)state;
	fake_init(&f[0], 1, "alice@partner.example", T0 + 100 * DAY);   /* last year's */
	fake_init(&f[1], 2, "ALICE@partner.example", T0 + 465 * DAY);   /* this year's: best */
	fake_init(&f[2], 3, "alice@partner.example", T0 + 900 * DAY);   /* longer, cannot encrypt */
	f[2].ci.can_encrypt = 0;
	for (int k = 0; k < 6; k++) {
		size_t best = 0;

		for (int i = 0; i < 3; i++) {
			infos[i] = &f[perms[k][i]].ci;
			if (perms[k][i] == 1)
				best = (size_t)i;
		}
		assert_int_equal(smp_plan_run_best(winner, infos, 3), 0);
		for (size_t i = 0; i < 3; i++)
			assert_int_equal(winner[i], best);
	}
	/* other addresses, inputs not taking part, and the same certificate twice: no contest */
	fake_init(&f[3], 4, "bob@partner.example", T0 + 10 * DAY);
	infos[0] = &f[0].ci;
	infos[1] = &f[3].ci;
	infos[2] = NULL;
	infos[3] = &f[0].ci;
	assert_int_equal(smp_plan_run_best(winner, infos, 4), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(winner[i], i);
	/* a tie goes to the earliest input */
	fake_init(&f[4], 5, "alice@partner.example", T0 + 100 * DAY);
	infos[0] = &f[4].ci;
	infos[1] = &f[0].ci;
	assert_int_equal(smp_plan_run_best(winner, infos, 2), 0);
	assert_int_equal(winner[0], 0);
	assert_int_equal(winner[1], 0);
}

static void test_prune_expired(void **state)
{
	fake n, exp, bobexp, valid;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&exp, 2, "alice@partner.example", 0);
	fake_expired(&exp);
	fake_init(&bobexp, 3, "bob@partner.example", 0);
	fake_expired(&bobexp);
	fake_init(&valid, 4, "alice@partner.example", T0 + 30 * DAY);

	/* the only other certificate is expired and pruned: nothing left to refuse for */
	p = publish(ENTRY(&e, &exp), &n, 0, 0, 1, 0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&exp));
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* an expired certificate for another address is not pruned, and still refuses */
	p = publish(ENTRY(&e, &exp, &bobexp), &n, 0, 0, 1, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "already_has_certificate");
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);

	p = publish(ENTRY(&e, &bobexp, &exp, &valid), &n, 1, 0, 1, 0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&exp, &bobexp, &valid));
	assert_vals(p->add, p->n_add, VALS(&n, &bobexp, &valid));
	smp_plan_free(p);

	/* the certificate is already there: only the pruning is left to do */
	p = publish(ENTRY(&e, &n, &exp), &n, 0, 0, 1, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_vals(p->del, p->n_del, VALS(&exp));
	assert_int_equal(p->n_add, 0);
	smp_plan_free(p);

	/* without --prune-expired the expired one stays */
	p = publish(ENTRY(&e, &n, &exp), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	smp_plan_free(p);
}

static void test_critical_problem(void **state)
{
	fake n;
	smp_plan *p;
	entry e;
	fake old;

	(void)state;
	fake_init(&old, 2, "alice@partner.example", T0 + 10 * DAY);

	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_problem(&n, "expiring", SMP_SEV_WARNING);
	p = publish(&empty_entry, &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	smp_plan_free(p);

	fake_problem(&n, "untrusted", SMP_SEV_CRITICAL);
	p = publish(ENTRY(&e, &old), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "critical_problem");
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);

	p = publish(ENTRY(&e, &old), &n, 0, 1, 0, 1);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&old));
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* address_mismatch added by the caller counts as critical, whatever severity it got */
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_problem(&n, "address_mismatch", SMP_SEV_NONE);
	p = publish(&empty_entry, &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "critical_problem");
	smp_plan_free(p);
	p = publish(&empty_entry, &n, 0, 0, 0, 1);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	smp_plan_free(p);
}

static void test_null_info_skipped(void **state)
{
	fake n;
	smp_policy pol = SMP_POLICY_INIT;
	smp_plan *p = NULL;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	pol.force = 1;
	assert_int_equal(smp_plan_publish(&p, &empty_entry, &n.bv, NULL, &pol), 0);
	assert_int_equal(p->action, SMP_ACT_SKIPPED);
	assert_string_equal(p->reason, "malformed");
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);
}

static void test_order_fixing(void **state)
{
	fake n, exp, nouse, bob, a, b;
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&n, 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&exp, 2, "alice@partner.example", 0);
	fake_expired(&exp);
	fake_init(&nouse, 3, "alice@partner.example", T0 + 900 * DAY);
	nouse.ci.can_encrypt = 0;
	fake_init(&bob, 4, "bob@partner.example", T0 + 900 * DAY);

	/* expired first + new valid one with --add: new first, expired moved behind */
	p = publish(ENTRY(&e, &exp), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->del, p->n_del, VALS(&exp));
	assert_vals(p->add, p->n_add, VALS(&n, &exp));
	smp_plan_free(p);

	/* with --replace the expired one is deleted and no reorder is needed */
	p = publish(ENTRY(&e, &exp), &n, 0, 1, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REPLACED);
	assert_vals(p->del, p->n_del, VALS(&exp));
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* a later notAfter that cannot encrypt does not win; neither does another address */
	p = publish(ENTRY(&e, &nouse, &bob), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_vals(p->del, p->n_del, VALS(&nouse, &bob));
	assert_vals(p->add, p->n_add, VALS(&n, &nouse, &bob));
	smp_plan_free(p);

	/* already present but not first: reorder only */
	p = publish(ENTRY(&e, &exp, &n), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REORDERED);
	assert_vals(p->del, p->n_del, VALS(&exp, &n));
	assert_vals(p->add, p->n_add, VALS(&n, &exp));
	smp_plan_free(p);
	p = publish(ENTRY(&e, &n, &exp), &n, 0, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	smp_plan_free(p);

	/* a tie on notAfter keeps the current first value: no needless reorder */
	fake_init(&a, 5, "alice@partner.example", T0 + 365 * DAY);
	p = publish(ENTRY(&e, &a), &n, 1, 0, 0, 0);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_int_equal(p->n_del, 0);
	assert_vals(p->add, p->n_add, VALS(&n));
	smp_plan_free(p);

	/* forced unusable new certificate: nothing usable to promote, plain append */
	fake_init(&b, 6, "alice@partner.example", 0);
	fake_expired(&b);
	p = publish(ENTRY(&e, &exp), &b, 1, 0, 0, 1);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_int_equal(p->n_del, 0);
	assert_vals(p->add, p->n_add, VALS(&b));
	smp_plan_free(p);
	/* ... and a usable existing one stays first */
	p = publish(ENTRY(&e, &a), &b, 1, 0, 0, 1);
	assert_int_equal(p->action, SMP_ACT_PUBLISHED);
	assert_int_equal(p->n_del, 0);
	assert_vals(p->add, p->n_add, VALS(&b));
	smp_plan_free(p);
}

static void test_usable(void **state)
{
	fake f;
	static const char *bad[] = { "expired", "not_yet_valid", "revoked", "malformed" };
	size_t i;

	(void)state;
	assert_false(smp_cert_usable(NULL));
	fake_init(&f, 1, "a@b.example", T0 + DAY);
	assert_true(smp_cert_usable(&f.ci));
	fake_problem(&f, "expiring", SMP_SEV_WARNING);
	fake_problem(&f, "untrusted", SMP_SEV_CRITICAL);
	assert_true(smp_cert_usable(&f.ci));
	f.ci.can_encrypt = 0;
	assert_false(smp_cert_usable(&f.ci));
	f.ci.can_encrypt = 1;
	f.ci.email_protection = 0;
	assert_false(smp_cert_usable(&f.ci));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_init(&f, 1, "a@b.example", T0 + DAY);
		fake_problem(&f, bad[i], SMP_SEV_CRITICAL);
		assert_false(smp_cert_usable(&f.ci));
	}
}

/* ---- invariants over many entries and policies ------------------------------------------- */

#define POOL 6

static fake pool[POOL];

/* Which pool value bv is (by content). */
static int pool_index(const struct berval *bv)
{
	int i;

	for (i = 0; i < POOL; i++) {
		if (bv->bv_len == pool[i].bv.bv_len &&
		    memcmp(bv->bv_val, pool[i].bv.bv_val, bv->bv_len) == 0)
			return i;
	}
	fail_msg("plan holds a value that was never given to it");
	return -1;
}

/* Applies a plan to a list of pool indexes like an LDAP modify: deletes, then appends. */
static size_t apply(int *after, const int *before, size_t n, const smp_plan *p)
{
	int present[POOL] = { 0 };
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		present[before[i]] = 1;
	for (i = 0; i < p->n_del; i++) {
		int v = pool_index(&p->del[i]);

		assert_true(present[v]); /* exact value deletes of values read */
		present[v] = 0;
	}
	for (i = 0; i < n; i++) {
		if (present[before[i]])
			after[k++] = before[i];
	}
	for (i = 0; i < p->n_add; i++) {
		int v = pool_index(&p->add[i]);

		assert_false(present[v]); /* never adds a value that is there */
		present[v] = 1;
		after[k++] = v;
	}
	return k;
}

/* Whether f is a certificate for the new certificate's address. */
static int for_alice(const fake *f)
{
	return f->is_cert && strcasecmp(f->emails[0], "alice@partner.example") == 0;
}

static void check_one(const int *seq, size_t n, int pol)
{
	fake *const newf = &pool[0];
	fake *v[POOL];
	int after[POOL];
	size_t i, k;
	smp_plan *p, *again;
	entry e, e2;
	int had[POOL] = { 0 }, has[POOL] = { 0 };
	size_t gone;

	for (i = 0; i < n; i++) {
		v[i] = &pool[seq[i]];
		had[seq[i]] = 1;
	}
	p = publish(entry_of(&e, v, n), newf, pol & 1, pol & 2, pol & 4, pol & 8);
	if (p->action == SMP_ACT_SKIPPED) {
		assert_int_equal(p->n_del + p->n_add, 0);
		assert_false(had[0]);
		smp_plan_free(p);
		return;
	}
	k = apply(after, seq, n, p);
	for (i = 0; i < k; i++)
		has[after[i]] = 1;
	/* n_removed counts the values that really go */
	gone = 0;
	for (i = 0; i < POOL; i++)
		gone += had[i] && !has[i];
	assert_int_equal(p->n_removed, gone);
	/* the new certificate is there; values for other addresses and junk are kept */
	assert_true(has[0]);
	for (i = 1; i < POOL; i++) {
		if (had[i] && !for_alice(&pool[i]))
			assert_true(has[i]);
	}
	/* the best usable value for the address comes first */
	for (i = 1; i < k; i++) {
		const fake *f = &pool[after[i]];

		if (for_alice(f) && smp_cert_usable(&f->ci))
			assert_true(pool[after[0]].ci.not_after >= f->ci.not_after);
	}
	assert_int_equal(p->action == SMP_ACT_UNCHANGED, p->n_del + p->n_add == 0);
	/* re-running on the result has nothing left to do */
	for (i = 0; i < k; i++)
		v[i] = &pool[after[i]];
	again = publish(entry_of(&e2, v, k), newf, pol & 1, pol & 2, pol & 4, pol & 8);
	assert_int_equal(again->action, SMP_ACT_UNCHANGED);
	smp_plan_free(again);
	smp_plan_free(p);
}

static void permute(int *seq, size_t n, size_t len, int used, int pol, unsigned *count)
{
	int i;

	if (n == len) {
		check_one(seq, n, pol);
		(*count)++;
		return;
	}
	for (i = 0; i < POOL; i++) {
		if (used & (1 << i))
			continue;
		seq[n] = i;
		permute(seq, n + 1, len, used | (1 << i), pol, count);
	}
}

static void test_invariants(void **state)
{
	int seq[POOL];
	size_t len;
	int pol;
	unsigned count = 0;

	(void)state;
	fake_init(&pool[0], 1, "alice@partner.example", T0 + 365 * DAY);
	fake_init(&pool[1], 2, "alice@partner.example", 0);
	fake_expired(&pool[1]);
	fake_init(&pool[2], 3, "alice@partner.example", T0 + 100 * DAY);
	fake_init(&pool[3], 4, "bob@partner.example", T0 + 900 * DAY);
	fake_junk(&pool[4], 5);
	fake_init(&pool[5], 6, "ALICE@partner.example", T0 + 900 * DAY);
	pool[5].ci.email_protection = 0;
	for (pol = 0; pol < 16; pol++) {
		for (len = 0; len <= 4; len++)
			permute(seq, 0, len, 0, pol, &count);
	}
	assert_int_equal(count, 16 * (1 + 6 + 30 + 120 + 360));
}

/* ---- remove ------------------------------------------------------------------------------- */

static void fingerprint(char *out, const fake *f, int upper_colons)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;
	char *o = out;

	SHA256(f->bytes, sizeof(f->bytes), md);
	for (i = 0; i < sizeof(md); i++) {
		if (upper_colons)
			o += sprintf(o, i == 0 ? "%02X" : ":%02X", md[i]);
		else
			o += sprintf(o, "%02x", md[i]);
	}
}

/* Whether bv (by address) is among v[0..n). */
static int among(const struct berval *bv, const struct berval *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].bv_val == bv->bv_val)
			return 1;
	return 0;
}

/*
 * The remove plan for ex, checked for its order-preserving form: applied (delete del, append
 * add), the entry holds every value not really removed in its old order; its inverse (delete
 * add, append del) gives back the entry exactly.
 */
static smp_plan *removal(const smp_existing *ex, const char *fp, int expired, int all)
{
	smp_remove_sel sel = { fp, expired, all };
	smp_plan *p = (smp_plan *)1;
	size_t k = 0, kept = 0, i;

	assert_int_equal(smp_plan_remove(&p, ex, &sel), 0);
	assert_non_null(p);
	for (i = 0; i < ex->n && !among(&ex->values[i], p->del, p->n_del); i++)
		k++;  /* before the first value deleted: untouched */
	assert_int_equal(ex->n - k, p->n_del);
	for (; i < ex->n; i++) {
		assert_ptr_equal(p->del[i - k].bv_val, ex->values[i].bv_val);
		if (among(&ex->values[i], p->add, p->n_add))
			assert_ptr_equal(p->add[kept++].bv_val, ex->values[i].bv_val);
	}
	assert_int_equal(kept, p->n_add);
	assert_int_equal(p->n_removed, p->n_del - p->n_add);
	return p;
}

/* The values p really takes off (del without add) are want, in order. */
static void assert_removed(const smp_plan *p, fake *const *want, size_t n_want)
{
	struct berval gone[16];
	size_t n = 0;

	for (size_t i = 0; i < p->n_del; i++)
		if (!among(&p->del[i], p->add, p->n_add))
			gone[n++] = p->del[i];
	assert_vals(gone, n, want, n_want);
}

static void test_remove_fingerprint(void **state)
{
	fake a, b, junk;
	char fp[200];
	smp_plan *p;
	entry e;

	(void)state;
	fake_init(&a, 1, "alice@partner.example", T0 + DAY);
	fake_init(&b, 2, "alice@partner.example", T0 + DAY);
	fake_junk(&junk, 3);

	fingerprint(fp, &b, 0);
	p = removal(ENTRY(&e, &a, &b, &junk), fp, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_null(p->reason);
	assert_removed(p, VALS(&b));
	smp_plan_free(p);

	fingerprint(fp, &b, 1);
	assert_non_null(strchr(fp, ':'));
	p = removal(ENTRY(&e, &a, &b, &junk), fp, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_removed(p, VALS(&b));
	smp_plan_free(p);

	/* a value that is not a certificate can be removed by its fingerprint too */
	fingerprint(fp, &junk, 1);
	p = removal(ENTRY(&e, &a, &b, &junk), fp, 0, 0);
	assert_removed(p, VALS(&junk));
	smp_plan_free(p);

	fingerprint(fp, &b, 0);
	p = removal(ENTRY(&e, &a, &junk), fp, 0, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_string_equal(p->reason, "not_found");
	assert_int_equal(p->n_del, 0);
	smp_plan_free(p);

	/* the SHA-1 thumbprint as Windows' certificate dialog shows it: spaced pairs, and a
	   copy from there starts with an invisible U+200E */
	{
		unsigned char md[SHA_DIGEST_LENGTH];
		char *o = fp;

		SHA1(b.bytes, sizeof(b.bytes), md);
		o += sprintf(o, "\xe2\x80\x8e");
		for (size_t i = 0; i < sizeof(md); i++)
			o += sprintf(o, i == 0 ? "%02x" : " %02x", md[i]);
	}
	p = removal(ENTRY(&e, &a, &b, &junk), fp, 0, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_removed(p, VALS(&b));
	smp_plan_free(p);
}

static void test_remove_bad_fingerprint(void **state)
{
	fake a;
	entry e;
	smp_plan *p = (smp_plan *)1;
	smp_remove_sel sel = { "abcd", 0, 0 };
	char fp[200];

	(void)state;
	fake_init(&a, 1, "alice@partner.example", T0 + DAY);
	assert_int_equal(smp_plan_remove(&p, ENTRY(&e, &a), &sel), SMP_ERR_USAGE);
	assert_null(p);
	fingerprint(fp, &a, 0);
	fp[10] = 'g';
	sel.fingerprint = fp;
	assert_int_equal(smp_plan_remove(&p, ENTRY(&e, &a), &sel), SMP_ERR_USAGE);
	fingerprint(fp, &a, 0);
	strcat(fp, "00");
	assert_int_equal(smp_plan_remove(&p, ENTRY(&e, &a), &sel), SMP_ERR_USAGE);
	assert_null(p);
	/* neither a SHA-256 nor a SHA-1: 39 and 41 digits */
	fingerprint(fp, &a, 0);
	fp[39] = '\0';
	assert_int_equal(smp_plan_remove(&p, ENTRY(&e, &a), &sel), SMP_ERR_USAGE);
	fingerprint(fp, &a, 0);
	fp[41] = '\0';
	assert_int_equal(smp_plan_remove(&p, ENTRY(&e, &a), &sel), SMP_ERR_USAGE);
	assert_null(p);
}

static void test_remove_expired_all(void **state)
{
	fake a, exp1, exp2, junk;
	smp_plan *p;
	entry e;
	char fp[200];

	(void)state;
	fake_init(&a, 1, "alice@partner.example", T0 + DAY);
	fake_init(&exp1, 2, "alice@partner.example", 0);
	fake_expired(&exp1);
	fake_init(&exp2, 3, "bob@partner.example", 0);
	fake_expired(&exp2);
	fake_junk(&junk, 4);

	p = removal(ENTRY(&e, &exp1, &a, &junk, &exp2), NULL, 1, 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_int_equal(p->n_removed, 2);
	assert_removed(p, VALS(&exp1, &exp2));
	smp_plan_free(p);

	p = removal(ENTRY(&e, &a, &junk), NULL, 1, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_string_equal(p->reason, "nothing_selected");
	smp_plan_free(p);

	p = removal(ENTRY(&e, &exp1, &a, &junk, &exp2), NULL, 0, 1);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_removed(p, VALS(&exp1, &a, &junk, &exp2));
	smp_plan_free(p);

	/* a fingerprint takes only its value, not the expired ones */
	fingerprint(fp, &a, 0);
	p = removal(ENTRY(&e, &exp1, &a, &exp2), fp, 0, 0);
	assert_removed(p, VALS(&a));
	smp_plan_free(p);

	/* selections add up */
	fingerprint(fp, &a, 1);
	p = removal(ENTRY(&e, &exp1, &a, &junk), fp, 1, 0);
	assert_removed(p, VALS(&exp1, &a));
	smp_plan_free(p);

	p = removal(&empty_entry, NULL, 0, 1);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_string_equal(p->reason, "nothing_selected");
	smp_plan_free(p);

	p = removal(ENTRY(&e, &a), NULL, 0, 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_string_equal(p->reason, "nothing_selected");
	smp_plan_free(p);
}

/* ---- best order --------------------------------------------------------------------------- */

static void test_best_order(void **state)
{
	fake junk, exp, b1, a, c1, nouse;
	entry e;
	size_t order[6];

	(void)state;
	fake_junk(&junk, 1);
	fake_init(&exp, 2, "alice@partner.example", 0);
	fake_expired(&exp);
	fake_init(&b1, 3, "bob@partner.example", T0 + 400 * DAY);
	fake_init(&a, 4, "alice@partner.example", T0 + 800 * DAY);
	fake_init(&c1, 5, "carol@partner.example", T0 + 400 * DAY);
	fake_init(&nouse, 6, "alice@partner.example", T0 + 999 * DAY);
	nouse.ci.email_protection = 0;

	smp_plan_best_order(order, ENTRY(&e, &junk, &exp, &b1, &a, &c1, &nouse));
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 2); /* tie with 4: earlier first */
	assert_int_equal(order[2], 4);
	assert_int_equal(order[3], 0); /* the rest keep their relative order */
	assert_int_equal(order[4], 1);
	assert_int_equal(order[5], 5);

	smp_plan_best_order(order, &empty_entry);
}

/* ---- prune -------------------------------------------------------------------------------- */

/* The inverse the journal records for p: delete what p adds, add back what it deletes. */
static smp_plan inverse_of(const smp_plan *p)
{
	smp_plan inv;

	memset(&inv, 0, sizeof(inv));
	inv.del = p->add;
	inv.n_del = p->n_add;
	inv.add = p->del;
	inv.n_add = p->n_del;
	return inv;
}

static void test_prune_plan(void **state)
{
	fake a, b, c, d;
	entry e;
	smp_plan *p = NULL;
	smp_prune_pick picks[] = { { 2, "superseded" }, { 0, "expired" } };
	smp_prune_pick past[] = { { 4, "expired" } };

	(void)state;
	fake_init(&a, 1, "alice@partner.example", T0 + DAY);
	fake_expired(&a);
	fake_init(&b, 2, "bob@partner.example", T0 + 9 * DAY);
	fake_init(&c, 3, "alice@partner.example", T0 + 5 * DAY);
	fake_junk(&d, 4);

	/* from the first pick on: every value deleted, the ones that stay added back in order */
	assert_int_equal(smp_plan_prune(&p, ENTRY(&e, &a, &b, &c, &d), picks, 2), 0);
	assert_int_equal(p->action, SMP_ACT_REMOVED);
	assert_null(p->reason);
	assert_int_equal(p->n_removed, 2);
	assert_vals(p->del, p->n_del, VALS(&a, &b, &c, &d));
	assert_vals(p->add, p->n_add, VALS(&b, &d));
	smp_plan_free(p);

	/* values before the first pick are not touched */
	picks[0].index = 3;
	assert_int_equal(smp_plan_prune(&p, ENTRY(&e, &a, &b, &c, &d), picks, 1), 0);
	assert_vals(p->del, p->n_del, VALS(&d));
	assert_int_equal(p->n_add, 0);
	assert_int_equal(p->n_removed, 1);
	smp_plan_free(p);

	/* nothing picked: nothing to write */
	assert_int_equal(smp_plan_prune(&p, ENTRY(&e, &a, &b), NULL, 0), 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	assert_string_equal(p->reason, "nothing_selected");
	assert_int_equal(p->n_del + p->n_add, 0);
	smp_plan_free(p);
	assert_int_equal(smp_plan_prune(&p, &empty_entry, NULL, 0), 0);
	assert_int_equal(p->action, SMP_ACT_UNCHANGED);
	smp_plan_free(p);

	/* a pick past the values is the caller's mistake */
	p = (smp_plan *)1;
	assert_int_equal(smp_plan_prune(&p, ENTRY(&e, &a, &b, &c, &d), past, 1), SMP_ERR_USAGE);
	assert_null(p);
}

/*
 * Every subset of picks on a 5-value entry (certificates and a value that is not one): the
 * plan takes off exactly the picks and keeps the others in order; the inverse the journal
 * records gives back the original list in its order; planning the result again (the picks
 * are gone, nothing is selected) has nothing to do; a pick named twice counts once.
 */
static void test_prune_roundtrip_all_subsets(void **state)
{
	const int before[5] = { 0, 1, 2, 3, 4 };
	fake *v[5];
	unsigned mask;
	entry e;

	(void)state;
	fake_init(&pool[0], 11, "alice@partner.example", 0);
	fake_expired(&pool[0]);
	fake_init(&pool[1], 12, "alice@partner.example", T0 + 100 * DAY);
	fake_init(&pool[2], 13, "bob@partner.example", T0 + 50 * DAY);
	fake_junk(&pool[3], 14);
	fake_init(&pool[4], 15, "alice@partner.example", T0 + 200 * DAY);
	for (int i = 0; i < 5; i++)
		v[i] = &pool[i];
	for (mask = 0; mask < 32; mask++) {
		smp_prune_pick picks[10];
		int after[POOL], undone[POOL], kept[5];
		size_t n = 0, k, nk = 0, u, removed = 0;
		smp_plan *p = NULL, *again = NULL, inv;
		entry e2;
		fake *rest[5];

		/* picks in descending order, the lowest named twice: order and repeats do not
		   matter */
		for (int i = 4; i >= 0; i--)
			if (mask & (1u << i))
				picks[n++] = (smp_prune_pick){ (size_t)i, "expired" };
		if (n > 0)
			picks[n] = picks[n - 1], n++;
		for (int i = 0; i < 5; i++)
			if (!(mask & (1u << i)))
				kept[nk++] = i;
		assert_int_equal(smp_plan_prune(&p, entry_of(&e, v, 5), picks, n), 0);
		assert_int_equal(p->action, mask == 0 ? SMP_ACT_UNCHANGED : SMP_ACT_REMOVED);
		k = apply(after, before, 5, p);
		/* exactly the picks go, the others stay in their order */
		assert_int_equal(k, nk);
		for (size_t i = 0; i < k; i++)
			assert_int_equal(after[i], kept[i]);
		for (int i = 0; i < 5; i++)
			removed += (mask >> i) & 1u;
		assert_int_equal(p->n_removed, removed);
		assert_int_equal(p->n_del - p->n_add, removed);
		/* the inverse restores values and order */
		inv = inverse_of(p);
		u = apply(undone, after, k, &inv);
		assert_int_equal(u, 5);
		for (size_t i = 0; i < 5; i++)
			assert_int_equal(undone[i], before[i]);
		/* idempotent: on the result, nothing is left to select */
		for (size_t i = 0; i < k; i++)
			rest[i] = &pool[after[i]];
		assert_int_equal(smp_plan_prune(&again, entry_of(&e2, rest, k), NULL, 0), 0);
		assert_int_equal(again->action, SMP_ACT_UNCHANGED);
		assert_int_equal(again->n_del + again->n_add, 0);
		smp_plan_free(again);
		smp_plan_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_action_names),
		cmocka_unit_test(test_empty_entry),
		cmocka_unit_test(test_same_cert_twice),
		cmocka_unit_test(test_other_cert_refused),
		cmocka_unit_test(test_non_certificate_does_not_refuse),
		cmocka_unit_test(test_add_keeps_both),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_downgrade),
		cmocka_unit_test(test_run_best),
		cmocka_unit_test(test_prune_expired),
		cmocka_unit_test(test_critical_problem),
		cmocka_unit_test(test_null_info_skipped),
		cmocka_unit_test(test_order_fixing),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_invariants),
		cmocka_unit_test(test_remove_fingerprint),
		cmocka_unit_test(test_remove_bad_fingerprint),
		cmocka_unit_test(test_remove_expired_all),
		cmocka_unit_test(test_best_order),
		cmocka_unit_test(test_prune_plan),
		cmocka_unit_test(test_prune_roundtrip_all_subsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
