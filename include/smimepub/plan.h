/* smimepub: the publish / remove / prune decisions as pure functions (SPEC §4). */
#ifndef SMIMEPUB_PLAN_H
#define SMIMEPUB_PLAN_H

#include <stddef.h>
#include <time.h>

#include <lber.h>

#include "smimepub/audit.h"
#include "smimepub/cert.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct smp_policy {
	int add;            /* --add: keep other certificates for the address */
	int replace;        /* --replace: remove this address's other certificates */
	int prune_expired;  /* --prune-expired: also remove this entry's expired certificates */
	int force;          /* --force: publish despite critical problems */
} smp_policy;

#define SMP_POLICY_INIT { 0, 0, 0, 0 }

/* What a plan will do, as reported in JSON `action`. */
typedef enum smp_action {
	SMP_ACT_UNCHANGED = 0,   /* nothing to write */
	SMP_ACT_PUBLISHED,       /* value added */
	SMP_ACT_REPLACED,        /* value added, others for the same address removed */
	SMP_ACT_REMOVED,         /* values removed only */
	SMP_ACT_REORDERED,       /* only the order changes */
	SMP_ACT_SKIPPED,         /* refused by policy: reason says why */
} smp_action;

const char *smp_action_name(smp_action a);

/*
 * Exact values to delete and add on one entry, in one modify. To reorder, the plan deletes
 * the values read and adds them back in the order wanted; `add` is in final order.
 */
typedef struct smp_plan {
	smp_action action;
	const char *reason;       /* static code saying why, for SKIPPED ("critical_problem",
				     "already_has_certificate") and UNCHANGED ("already_published",
				     "nothing_selected", "not_found"); NULL otherwise */
	struct berval *del;       /* borrowed from the entry's values */
	size_t n_del;
	struct berval *add;       /* borrowed from the entry's values or the new certificate */
	size_t n_add;
	size_t n_removed;         /* values of del that are not added back (really removed) */
	size_t lost;              /* SKIPPED "downgrade": the index (in existing) of the
				     certificate that replacing would lose */
} smp_plan;

/*
 * The existing values of an entry's certificate attribute, in directory order, each with its
 * analysis (NULL where the value is not a certificate).
 */
typedef struct smp_existing {
	const struct berval *values;
	smp_certinfo *const *info;
	size_t n;
} smp_existing;

/*
 * Decides what publishing newcert (DER in newder, facts in newinfo) onto an entry holding
 * `existing` does under policy. Pure: no I/O, no clock (the time is in the analyses).
 *
 * - newinfo with a critical problem (address_mismatch included) and no policy->force:
 *   SKIPPED "critical_problem" (newinfo NULL: SKIPPED "malformed").
 * - "Same address" means a certificate value (info not NULL) listing one of newinfo->emails
 *   (case-insensitive). replace deletes the same-address certificates; prune_expired deletes
 *   the same-address certificates with the problem "expired". Values for other addresses and
 *   values that are not certificates are never deleted.
 * - replace that would delete a same-address certificate that is usable, has no critical
 *   problem and expires later than newinfo (or newinfo is not usable), without
 *   policy->force: SKIPPED "downgrade", lost its index. Nothing is lost silently.
 * - Another certificate left on the entry after that, without add or replace:
 *   SKIPPED "already_has_certificate" (unless newder itself is already there).
 * - Afterwards the best value for the address (smp_cert_usable, clients.h; latest notAfter)
 *   must come
 *   first. When it would not, the plan also deletes every remaining value read and adds them
 *   all back, best first, the others in their previous relative order (`add` is then the
 *   entry's full final order).
 * - action: PUBLISHED (new value added), REPLACED (added and values removed), REMOVED (already
 *   there, values removed), REORDERED (already there, order fixed), UNCHANGED
 *   "already_published".
 *
 * The plan borrows the bervals' data from existing and newder: keep them alive while using
 * it. Returns 0 and a plan the caller frees with smp_plan_free, or SMP_ERR_NOMEM.
 */
int smp_plan_publish(smp_plan **out, const smp_existing *existing, const struct berval *newder,
		     const smp_certinfo *newinfo, const smp_policy *policy);

/*
 * Whether a is the better certificate to publish for an address than b: usable
 * (smp_cert_usable) before not, then the later notAfter. Pure.
 */
int smp_plan_better(const smp_certinfo *a, const smp_certinfo *b);

/*
 * Several certificates for one address in one run (a folder with last year's and this year's
 * file, in any order): for each input i of infos[0..n) (NULL: not taking part), winner[i] is
 * the input to publish instead of it -- the best (smp_plan_better; the earliest on a tie) of
 * the inputs that share an address with it -- or i itself when none beats it. The same
 * certificate twice is no contest (both keep winner[i] == i). Pure. Returns 0 or
 * SMP_ERR_NOMEM.
 */
int smp_plan_run_best(size_t *winner, smp_certinfo *const *infos, size_t n);

/* Which values `remove` takes off an entry. */
typedef struct smp_remove_sel {
	const char *fingerprint;  /* SHA-256 hex, or the SHA-1 thumbprint Windows shows
				     (case-insensitive; ':', spaces, U+200E ignored), or NULL */
	int expired;              /* every expired value */
	int all;                  /* every value */
} smp_remove_sel;

/*
 * Plan for `remove`: takes the selected exact values off (the union of the selections; a
 * fingerprint is compared with the SHA-256 of each value's bytes, so values that are not
 * certificates can be removed too; 40 digits are compared with the SHA-1 of each value;
 * `expired` takes certificates with the problem "expired").
 * The change is in smp_plan_prune's order-preserving form (del from the first value taken on,
 * add the ones that stay), so its journal record gives back every value in its place; the
 * values really removed are those of del not in add (n_removed of them).
 * Action REMOVED, or UNCHANGED with reason "not_found" (a fingerprint matched nothing and
 * nothing else was selected) or "nothing_selected". Pure; borrows like smp_plan_publish.
 * Returns 0; SMP_ERR_USAGE when the fingerprint is not 64 or 40 hex digits (colons and
 * spaces ignored); SMP_ERR_NOMEM.
 */
int smp_plan_remove(smp_plan **out, const smp_existing *existing, const smp_remove_sel *sel);

/*
 * Plan for `prune`: takes the values picks[0..n) name (indexes into existing, as
 * smp_audit_prune_select chose them) off the entry and keeps the order of the others. The
 * change is in the order-preserving form: from the first picked value on, `del` holds every
 * value in directory order and `add` the ones that stay, in their order. Applied, it removes
 * exactly the picks (an LDAP modify appends what it adds, so the kept values come back where
 * they were); its inverse (delete `add`, add `del`) gives back every value in its old place,
 * which is what the journal must record (journal.h) and why the modify itself is sent in this
 * form: pub_apply journals the inverse of exactly what it sends. n_removed is the number of
 * distinct picks. Action REMOVED, or UNCHANGED "nothing_selected" when n is 0. Pure; borrows
 * like smp_plan_publish. Returns 0; SMP_ERR_USAGE when a pick's index is past the values;
 * SMP_ERR_NOMEM.
 */
int smp_plan_prune(smp_plan **out, const smp_existing *existing, const smp_prune_pick *picks,
		   size_t n);

/*
 * Order for client selection (gpgsm takes the first, OWA the first usable): usable values
 * first, the latest notAfter first among them; others keep their relative order. Fills
 * order[0..n) with indexes into existing. Pure.
 */
void smp_plan_best_order(size_t *order, const smp_existing *existing);

void smp_plan_free(smp_plan *p);

#ifdef __cplusplus
}
#endif

#endif
