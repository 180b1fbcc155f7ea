/*
 * smimepub engine: remove, taking selected certificates off the entries named, journalled,
 * many entries through the pipeline (SPEC §2, §4).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/sha.h>

#include "pipeline.h"

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

/*
 * Whether arg names its entry by DN rather than by mail address (see smp_remove): a valid
 * mailbox is an address, whatever '=' it holds, unless the caller said DN (--dn).
 */
static int target_is_dn(const smp_session *c, const char *arg)
{
	char *addr = NULL;
	int mailbox;

	if (c->rm != NULL && c->rm->as_dn)
		return 1;
	if (!looks_like_dn(arg))
		return 0;
	mailbox = smp_address_normalize(&addr, arg, strlen(arg), NULL) == 0 &&
		  smp_address_check_mailbox(addr, NULL) == 0;
	free(addr);
	return !mailbox;
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
	if (target_is_dn(c, arg) && !looks_like_dn(arg)) {
		res->action = "failed";
		res->reason = "bad_dn";
		res->status = 64;
		if (asprintf(&res->message, "'%s' is not a DN (--dn takes every argument as one)",
			     arg) < 0)
			res->message = NULL;
		return 0;
	}
	if (target_is_dn(c, arg)) {
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
			   const struct pub_existing *pe, const smp_entry *e)
{
	for (size_t i = 0, first = 1; i < plan->n_del; i++) {
		const smp_certinfo *ci = NULL;
		char hex[65];
		smp_item it;
		int kept = 0;

		/* the order-preserving form deletes and adds back the values that stay */
		for (size_t j = 0; j < plan->n_add && !kept; j++)
			kept = plan->add[j].bv_val == plan->del[i].bv_val;
		if (kept)
			continue;

		size_t at = pe->ex.n;

		for (size_t j = 0; j < pe->ex.n; j++)
			if (pe->ex.values[j].bv_val == plan->del[i].bv_val)
				ci = pe->ex.info[(at = j)];
		pub_item_fill(&it, res, ci, NULL);
		/* where the value was, numbered as audit, prune and lookup number it */
		it.value_index = at;
		if (e != NULL && e->cert_attrs != NULL && at < e->n_certs)
			it.attribute = e->cert_attrs[at];
		it.ldif = first ? res->ldif : NULL;
		first = 0;
		if (ci == NULL) {
			value_sha256(hex, &plan->del[i]);
			it.value_sha256 = hex;
		}
		pub_emit_item(c, &it, c->rm->on_item, c->rm->ctx, NULL);
	}
}

/* One target of a remove on its way through the pipeline. */
struct ritem {
	struct pipe_item p;        /* p.res the result */
	const char *arg;           /* the ADDRESS or DN given (borrowed) */
	char *addr;                /* arg normalised, when it is an address */
	struct pub_existing pe;
	smp_plan *plan;
};

static void ritem_reset(struct ritem *ri)
{
	smp_plan_free(ri->plan);
	ri->plan = NULL;
	pub_existing_release(&ri->pe);
}

static void ritem_release(struct ritem *ri)
{
	ritem_reset(ri);
	pipe_item_release(&ri->p);
	free(ri->addr);
	memset(ri, 0, sizeof(*ri));
}

/*
 * Plans the removal from ri->p.entry: PIPE_PLANNED (or, in the single path, what the caller
 * applies), or final when there is nothing to remove. Returns 0, or an error (in err).
 */
static int remove_plan(smp_session *c, struct ritem *ri, smp_error *err)
{
	const smp_entry *e = ri->p.entry;
	struct pub_result *res = &ri->p.res;
	int r;

	ritem_reset(ri);
	if (res->dn == NULL && (res->dn = strdup(e->dn)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if ((r = pub_existing_load(&ri->pe, e, NULL, NULL, c->trust, err)) != 0 ||
	    (r = smp_plan_remove(&ri->plan, &ri->pe.ex, &c->rm->sel)) != 0)
		return r;
	if (ri->plan->action != SMP_ACT_UNCHANGED)
		return 0;
	res->action = "unchanged";
	res->reason = ri->plan->reason;
	res->status = ri->plan->reason != NULL && strcmp(ri->plan->reason, "not_found") == 0;
	if (asprintf(&res->message, res->status ? "no certificate on '%s' has that fingerprint" :
		     "nothing to remove on '%s'", e->dn) < 0)
		res->message = NULL;
	ri->p.state = PIPE_DONE;
	return 0;
}

/*
 * pipe_single_fn: the one-at-a-time path of a target: resolve, plan, pub_apply; on a
 * conflict read the entry again and decide again.
 */
static int remove_single(smp_session *c, struct pipe_item *p, void *ctx)
{
	struct ritem *ri = ctx;
	smp_error err = SMP_ERROR_INIT;
	char *comment = NULL;
	int r = 0;

	ritem_reset(ri);
	p->state = PIPE_DONE;
	if (resolve(c, ri->arg, &p->own, &p->res) != 0 || p->own == NULL) {
		if (p->res.action == NULL)
			pub_failure(&p->res, SMP_ERR_NOMEM, "out of memory");
		return 0;
	}
	p->entry = p->own;
	if (asprintf(&comment, "smimepub remove from '%s'", p->entry->dn) < 0) {
		pub_failure(&p->res, SMP_ERR_NOMEM, "out of memory");
		return 0;
	}
	for (int attempt = 0;; attempt++) {
		if ((r = remove_plan(c, ri, &err)) != 0) {
			pipe_fail(p, r, err.msg);
			break;
		}
		if (p->res.action != NULL)
			break;
		r = pub_apply(c, p->entry, ri->plan, comment, &p->res.ldif, &err);
		if (r == 0) {
			memcpy(p->record, c->record, sizeof(p->record));
			p->action = ri->plan->action;
			p->state = PIPE_WRITTEN;
			break;
		}
		if (r != SMP_ERR_CONFLICT || attempt >= PUB_MAX_RETRIES || c->o.dry_run) {
			pipe_fail(p, r, err.msg);
			break;
		}
		/* someone else changed the entry: read it again and decide again */
		smp_entry_free(p->own);
		p->own = NULL;
		p->entry = NULL;
		if ((r = smp_dir_read(c->dir, p->res.dn, &p->own, &err)) != 0) {
			pipe_fail(p, r, err.msg);
			break;
		}
		p->entry = p->own;
	}
	free(comment);
	return r == SMP_ERR_NOMEM ? r : 0;
}

/* Reports a finished target: one item per value removed, or its result. */
static void remove_emit(smp_session *c, struct ritem *ri)
{
	struct pub_result *res = &ri->p.res;

	if (ri->p.state == PIPE_WRITTEN && ri->plan != NULL) {
		memcpy(res->record, ri->p.record, sizeof(res->record));
		res->action = pub_action_name(c, ri->p.action);
		report_removed(c, res, ri->plan, &ri->pe, ri->p.entry);
		return;
	}
	if (res->action == NULL)
		pub_failure(res, SMP_ERR_UNAVAILABLE, "the directory is unavailable");
	pub_report(c, res, NULL, NULL, c->rm->on_item, c->rm->ctx);
}

/* Removes from the entries targets[0..n) name, through the pipeline; reports in order. */
static int remove_chunk(smp_session *c, const char *const *targets, size_t n)
{
	struct ritem *ri = calloc(n + 1, sizeof(*ri));
	struct pipe_item **g = calloc(n + 1, sizeof(*g));
	struct pipe_search *found = NULL;
	smp_error err = SMP_ERROR_INIT;
	size_t i;
	int r = SMP_ERR_NOMEM;

	if (ri == NULL || g == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		ri[i].arg = targets[i];
		g[i] = &ri[i].p;
		if (target_is_dn(c, targets[i]) && !looks_like_dn(targets[i])) {
			ri[i].p.state = PIPE_SINGLE;  /* it says it is not a DN */
		} else if (target_is_dn(c, targets[i])) {
			ri[i].p.dn = targets[i];
			ri[i].p.state = PIPE_READ;
		} else if (smp_address_normalize(&ri[i].addr, targets[i], strlen(targets[i]),
						 &err) == 0) {
			ri[i].p.addrs = (const char *const *)&ri[i].addr;
			ri[i].p.n_addrs = 1;
			ri[i].p.state = PIPE_LOCATE;
		} else {
			ri[i].p.state = PIPE_SINGLE;  /* it says why it is neither */
		}
	}
	if ((r = pipe_locate(c, g, n, &found)) != 0)
		goto out;
	pipe_read(c, g, n);
	if ((r = pipe_one_per_entry(g, n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (ri[i].p.state != PIPE_HAVE)
			continue;
		smp_error_clear(&err);
		if ((r = remove_plan(c, &ri[i], &err)) == 0 && ri[i].p.state == PIPE_HAVE)
			r = pipe_planned(c, &ri[i].p, ri[i].plan);
		if (r == SMP_ERR_NOMEM)
			goto out;
		if (r != 0)
			pipe_fail(&ri[i].p, r, err.msg);
	}
	if ((r = pipe_write_groups(c, g, n, NULL)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (ri[i].p.state == PIPE_SINGLE &&
		    (r = pipe_single(c, &ri[i].p, remove_single, &ri[i])) != 0)
			goto out;
	r = 0;
out:
	for (i = 0; ri != NULL && i < n; i++) {
		if (r == 0)
			remove_emit(c, &ri[i]);
		ritem_release(&ri[i]);
	}
	pipe_search_free(found);
	free(g);
	free(ri);
	return r;
}

/* Targets taken into the pipeline at once. */
#define REMOVE_CHUNK 1000

int smp_remove_targets(smp_session *c, const smp_remove_options *opts,
		       const char *const *targets, size_t n, smp_error *err)
{
	smp_plan *probe = NULL;
	smp_existing none = { NULL, NULL, 0 };
	int r = 0;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "remove options of an unknown version");
	if (smp_plan_remove(&probe, &none, &opts->sel) == SMP_ERR_USAGE)
		return smp_error_set(err, SMP_ERR_USAGE, "invalid fingerprint '%s': expected a SHA-256 "
				     "(64 hex digits) or a SHA-1 thumbprint (40), colons and spaces "
				     "allowed", opts->sel.fingerprint);
	smp_plan_free(probe);
	/* a server that goes away mid-write must be an error to reconnect from, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	c->rm = opts;
	smp_window_init(&c->win, 0, smp_window_clock());
	for (size_t i = 0; i < n && r == 0;) {
		size_t k = n - i < REMOVE_CHUNK ? n - i : REMOVE_CHUNK;

		if (c->o.dry_run || n == 1) {
			/* a dry run prints each target's LDIF as it goes; one target needs no batch */
			struct ritem ri;

			memset(&ri, 0, sizeof(ri));
			ri.arg = targets[i];
			if ((r = pipe_single(c, &ri.p, remove_single, &ri)) == 0)
				remove_emit(c, &ri);
			ritem_release(&ri);
			k = 1;
		} else {
			r = remove_chunk(c, targets + i, k);
		}
		i += k;
	}
	c->rm = NULL;
	return r != 0 ? smp_error_set(err, r, "cannot remove: out of memory") : 0;
}

int smp_remove(smp_session *c, const smp_remove_options *opts, const char *target,
	       smp_error *err)
{
	return smp_remove_targets(c, opts, &target, 1, err);
}
