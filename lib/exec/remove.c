/* smimepub engine: remove, taking selected certificates off one entry, journalled (SPEC §2, §4). */
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/sha.h>

#include "exec.h"

/* Whether arg reads as a DN ("cn=x,ou=y") rather than a mail address. */
static int looks_like_dn(const char *arg)
{
	LDAPDN dn = NULL;
	int ok;

	if (strchr(arg, '=') == NULL)
		return 0;
	ok = ldap_str2dn(arg, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && dn != NULL &&
	     dn[0] != NULL;
	ldap_dnfree(dn);
	return ok;
}

/* Finds the one entry arg names. Fills res (not_found, ambiguous, failure) when there is none. */
static int resolve(smp_session *c, const char *arg, smp_entry **entry, struct pub_result *res)
{
	smp_error err = SMP_ERROR_INIT;
	smp_entry **found = NULL;
	size_t nfound = 0;
	char *addr = NULL;
	int r;

	*entry = NULL;
	if (looks_like_dn(arg)) {
		r = smp_dir_read(c->dir, arg, entry, &err);
		if (r == SMP_ERR_NOTFOUND) {
			res->action = "failed";
			res->reason = "not_found";
			res->status = 1;
			if (asprintf(&res->message, "no entry '%s'", arg) < 0)
				res->message = NULL;
		} else if (r != 0) {
			pub_failure(res, r, err.msg);
		}
		return r == SMP_ERR_NOMEM ? r : 0;
	}
	if ((r = smp_address_normalize(&addr, arg, strlen(arg), &err)) != 0) {
		res->action = "failed";
		res->reason = "bad_address";
		res->status = 64;
		if (asprintf(&res->message, "'%s' is neither a DN nor a mail address: %s", arg,
			     err.msg) < 0)
			res->message = NULL;
		return 0;
	}
	if ((r = smp_dir_find_by_address(c->dir, addr, &found, &nfound, &err)) != 0) {
		pub_failure(res, r, err.msg);
	} else if (nfound == 0) {
		res->action = "failed";
		res->reason = "not_found";
		res->status = 1;
		if (asprintf(&res->message, "no entry has '%s' in mail or proxyAddresses", addr) < 0)
			res->message = NULL;
	} else if (nfound > 1) {
		res->action = "failed";
		res->reason = "ambiguous";
		res->status = 1;
		res->candidates = calloc(nfound, sizeof(*res->candidates));
		for (size_t i = 0; res->candidates != NULL && i < nfound; i++)
			if ((res->candidates[res->n_candidates] = strdup(found[i]->dn)) != NULL)
				res->n_candidates++;
		if (asprintf(&res->message, "%zu entries have '%s': name the entry by its DN; "
			     "nothing removed", nfound, addr) < 0)
			res->message = NULL;
	} else {
		*entry = found[0];
		found[0] = NULL;
	}
	smp_entries_free(found, nfound);
	free(addr);
	return 0;
}

/* Hex SHA-256 of a value. */
static void value_sha256(char hex[65], const struct berval *bv)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)bv->bv_val, bv->bv_len, md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* One record per value the plan removes; the first carries the dry run's LDIF. */
static void report_removed(smp_session *c, struct pub_result *res, const smp_plan *plan,
			   const struct pub_existing *pe)
{
	for (size_t i = 0; i < plan->n_del; i++) {
		const smp_certinfo *ci = NULL;
		char hex[65];
		smp_item it;

		for (size_t j = 0; j < pe->ex.n; j++)
			if (pe->ex.values[j].bv_val == plan->del[i].bv_val)
				ci = pe->ex.info[j];
		pub_item_fill(&it, res, ci, NULL);
		it.ldif = i == 0 ? res->ldif : NULL;
		if (ci == NULL) {
			value_sha256(hex, &plan->del[i]);
			it.value_sha256 = hex;
		}
		pub_emit_item(c, &it, c->rm->on_item, c->rm->ctx, NULL);
	}
}

static void remove_one(smp_session *c, const char *arg)
{
	struct pub_result res;
	struct pub_existing pe;
	smp_entry *e = NULL;
	smp_plan *plan = NULL;
	smp_error err = SMP_ERROR_INIT;
	char *comment = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&pe, 0, sizeof(pe));
	if (resolve(c, arg, &e, &res) != 0 || e == NULL) {
		if (res.action == NULL)
			pub_failure(&res, SMP_ERR_NOMEM, "out of memory");
		goto report;
	}
	if ((res.dn = strdup(e->dn)) == NULL ||
	    asprintf(&comment, "smimepub remove from '%s'", e->dn) < 0) {
		comment = NULL;
		pub_failure(&res, SMP_ERR_NOMEM, "out of memory");
		goto report;
	}
	for (int attempt = 0;; attempt++) {
		if ((r = pub_existing_load(&pe, e, NULL, NULL, c->trust, &err)) != 0 ||
		    (r = smp_plan_remove(&plan, &pe.ex, &c->rm->sel)) != 0) {
			pub_failure(&res, r, err.msg);
			goto report;
		}
		if (plan->action == SMP_ACT_UNCHANGED) {
			res.action = "unchanged";
			res.reason = plan->reason;
			res.status = plan->reason != NULL && strcmp(plan->reason, "not_found") == 0;
			if (asprintf(&res.message, res.status ? "no certificate on '%s' has that "
					     "fingerprint" : "nothing to remove on '%s'", e->dn) < 0)
				res.message = NULL;
			goto report;
		}
		r = pub_apply(c, e, plan, comment, &res.ldif, &err);
		if (r == 0) {
			res.action = pub_action_name(c, plan->action);
			report_removed(c, &res, plan, &pe);
			goto done;
		}
		if (r != SMP_ERR_CONFLICT || attempt >= PUB_MAX_RETRIES || c->o.dry_run) {
			pub_failure(&res, r, err.msg);
			goto report;
		}
		/* someone else changed the entry: read it again and decide again */
		smp_plan_free(plan);
		plan = NULL;
		pub_existing_release(&pe);
		{
			smp_entry *fresh = NULL;
			if ((r = smp_dir_read(c->dir, res.dn, &fresh, &err)) != 0) {
				pub_failure(&res, r, err.msg);
				goto report;
			}
			smp_entry_free(e);
			e = fresh;
		}
	}
report:
	pub_report(c, &res, NULL, NULL, c->rm->on_item, c->rm->ctx);
done:
	smp_plan_free(plan);
	pub_existing_release(&pe);
	smp_entry_free(e);
	free(comment);
	pub_result_release(&res);
}

int smp_remove(smp_session *c, const smp_remove_options *opts, const char *target,
	       smp_error *err)
{
	smp_plan *probe = NULL;
	smp_existing none = { NULL, NULL, 0 };

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "remove options of an unknown version");
	if (smp_plan_remove(&probe, &none, &opts->sel) == SMP_ERR_USAGE)
		return smp_error_set(err, SMP_ERR_USAGE, "invalid fingerprint '%s': expected 64 hex "
				     "digits of a SHA-256 (colons allowed)", opts->sel.fingerprint);
	smp_plan_free(probe);
	c->rm = opts;
	remove_one(c, target);
	c->rm = NULL;
	return 0;
}
