/* smimepub: the publish / remove decision as a pure function (SPEC §4). */
#include "smimepub/plan.h"

#include "smimepub/clients.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

const char *smp_action_name(smp_action a)
{
	switch (a) {
	case SMP_ACT_UNCHANGED:
		return "unchanged";
	case SMP_ACT_PUBLISHED:
		return "published";
	case SMP_ACT_REPLACED:
		return "replaced";
	case SMP_ACT_REMOVED:
		return "removed";
	case SMP_ACT_REORDERED:
		return "reordered";
	case SMP_ACT_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

static int has_problem(const smp_certinfo *ci, const char *code)
{
	size_t i;

	for (i = 0; i < ci->n_problems; i++) {
		if (ci->problems[i].code != NULL && strcmp(ci->problems[i].code, code) == 0)
			return 1;
	}
	return 0;
}

static int has_critical(const smp_certinfo *ci)
{
	size_t i;

	for (i = 0; i < ci->n_problems; i++) {
		if (ci->problems[i].severity == SMP_SEV_CRITICAL)
			return 1;
		if (ci->problems[i].code != NULL &&
		    strcmp(ci->problems[i].code, "address_mismatch") == 0)
			return 1;
	}
	return 0;
}

static int same_address(const smp_certinfo *a, const smp_certinfo *b)
{
	size_t i, j;

	if (a == NULL || b == NULL)
		return 0;
	for (i = 0; i < a->n_emails; i++) {
		for (j = 0; j < b->n_emails; j++) {
			if (a->emails[i] != NULL && b->emails[j] != NULL &&
			    strcasecmp(a->emails[i], b->emails[j]) == 0)
				return 1;
		}
	}
	return 0;
}

static int same_value(const struct berval *a, const struct berval *b)
{
	return a->bv_len == b->bv_len &&
	       (a->bv_len == 0 || memcmp(a->bv_val, b->bv_val, a->bv_len) == 0);
}

static int plan_new(smp_plan **out, size_t max_del, size_t max_add)
{
	smp_plan *p;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SMP_ERR_NOMEM;
	p->del = calloc(max_del + 1, sizeof(*p->del));
	p->add = calloc(max_add + 1, sizeof(*p->add));
	if (p->del == NULL || p->add == NULL) {
		smp_plan_free(p);
		return SMP_ERR_NOMEM;
	}
	p->action = SMP_ACT_UNCHANGED;
	*out = p;
	return 0;
}

/* A value of the entry after the change. */
struct slot {
	const struct berval *bv;
	const smp_certinfo *info;
	int existing;   /* read from the entry */
	int is_new;     /* the certificate being published */
};

/* Whether a is a better first value than b for clients (both usable). */
static int better(const smp_certinfo *a, const smp_certinfo *b)
{
	return a->not_after > b->not_after;
}

int smp_plan_better(const smp_certinfo *a, const smp_certinfo *b)
{
	int ua = smp_cert_usable(a), ub = smp_cert_usable(b);

	return ua != ub ? ua : better(a, b);
}

/* One address of one input, for smp_plan_run_best. */
struct run_addr {
	const char *addr;
	size_t idx;
};

static int run_addr_cmp(const void *x, const void *y)
{
	const struct run_addr *a = x, *b = y;
	int d = strcasecmp(a->addr, b->addr);

	return d != 0 ? d : (a->idx > b->idx) - (a->idx < b->idx);
}

int smp_plan_run_best(size_t *winner, smp_certinfo *const *infos, size_t n)
{
	struct run_addr *v;
	size_t nv = 0, i, k;

	for (i = 0; i < n; i++) {
		winner[i] = i;
		nv += infos[i] != NULL ? infos[i]->n_emails : 0;
	}
	if ((v = calloc(nv + 1, sizeof(*v))) == NULL)
		return SMP_ERR_NOMEM;
	nv = 0;
	for (i = 0; i < n; i++)
		for (k = 0; infos[i] != NULL && k < infos[i]->n_emails; k++) {
			v[nv].addr = infos[i]->emails[k];
			v[nv++].idx = i;
		}
	qsort(v, nv, sizeof(*v), run_addr_cmp);
	for (i = 0; i < nv; i = k) {
		size_t best = v[i].idx;

		for (k = i + 1; k < nv && strcasecmp(v[k].addr, v[i].addr) == 0; k++)
			if (smp_plan_better(infos[v[k].idx], infos[best]))
				best = v[k].idx;  /* strictly better: the earliest wins a tie */
		for (size_t m = i; m < k; m++) {
			size_t x = v[m].idx;

			/* the same certificate twice is not a contest: the second is "unchanged" */
			if (x == best || strcmp(infos[x]->sha256, infos[best]->sha256) == 0)
				continue;
			if (winner[x] == x || smp_plan_better(infos[best], infos[winner[x]]))
				winner[x] = best;
		}
	}
	free(v);
	return 0;
}

int smp_plan_publish(smp_plan **out, const smp_existing *existing, const struct berval *newder,
		     const smp_certinfo *newinfo, const smp_policy *policy)
{
	int r = SMP_ERR_INTERNAL;
	smp_plan *p = NULL;
	struct slot *final = NULL;
	size_t n = existing != NULL ? existing->n : 0;
	size_t i, n_final = 0, n_removed = 0, best = 0;
	long present = -1;
	int other_cert = 0, have_best = 0;

	*out = NULL;
	if ((r = plan_new(&p, 2 * n, n + 1)) != 0)
		goto out;
	final = calloc(n + 1, sizeof(*final));
	if (final == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}

	if (newinfo == NULL) {
		p->action = SMP_ACT_SKIPPED;
		p->reason = "malformed";
		goto done;
	}
	if (has_critical(newinfo) && !policy->force) {
		p->action = SMP_ACT_SKIPPED;
		p->reason = "critical_problem";
		goto done;
	}

	for (i = 0; i < n; i++) {
		const struct berval *bv = &existing->values[i];
		const smp_certinfo *ci = existing->info[i];
		int drop = 0;

		if (present < 0 && same_value(bv, newder)) {
			present = (long)i;
		} else if (ci != NULL && same_address(ci, newinfo)) {
			if (policy->replace)
				drop = 1;
			else if (policy->prune_expired && has_problem(ci, "expired"))
				drop = 1;
			/* replacing a sound certificate that stays usable for longer loses it */
			if (drop && !policy->force && !has_critical(ci) && smp_cert_usable(ci) &&
			    (!smp_cert_usable(newinfo) || better(ci, newinfo))) {
				p->action = SMP_ACT_SKIPPED;
				p->reason = "downgrade";
				p->lost = i;
				p->n_del = 0;
				goto done;
			}
		}
		if (drop) {
			p->del[p->n_del++] = *bv;
			n_removed++;
			continue;
		}
		if (ci != NULL && present != (long)i)
			other_cert = 1;
		final[n_final].bv = bv;
		final[n_final].info = ci;
		final[n_final].existing = 1;
		final[n_final].is_new = present == (long)i;
		n_final++;
	}

	if (present < 0 && other_cert && !policy->add && !policy->replace) {
		p->action = SMP_ACT_SKIPPED;
		p->reason = "already_has_certificate";
		p->n_del = 0;
		goto done;
	}
	if (present < 0) {
		final[n_final].bv = newder;
		final[n_final].info = newinfo;
		final[n_final].existing = 0;
		final[n_final].is_new = 1;
		n_final++;
	}

	/* The best usable certificate for the address; the earliest wins a tie. */
	for (i = 0; i < n_final; i++) {
		if (!smp_cert_usable(final[i].info))
			continue;
		if (!final[i].is_new && !same_address(final[i].info, newinfo))
			continue;
		if (!have_best || better(final[i].info, final[best].info)) {
			best = i;
			have_best = 1;
		}
	}

	if (have_best && best != 0) {
		for (i = 0; i < n_final; i++) {
			if (final[i].existing)
				p->del[p->n_del++] = *final[i].bv;
		}
		p->add[p->n_add++] = *final[best].bv;
		for (i = 0; i < n_final; i++) {
			if (i != best)
				p->add[p->n_add++] = *final[i].bv;
		}
	} else if (present < 0) {
		p->add[p->n_add++] = *newder;
	}

	p->n_removed = n_removed;
	if (present < 0)
		p->action = n_removed > 0 ? SMP_ACT_REPLACED : SMP_ACT_PUBLISHED;
	else if (n_removed > 0)
		p->action = SMP_ACT_REMOVED;
	else if (p->n_add > 0)
		p->action = SMP_ACT_REORDERED;
	else
		p->reason = "already_published";

done:
	*out = p;
	p = NULL;
	r = 0;
out:
	free(final);
	smp_plan_free(p);
	return r;
}

/* Normalises a fingerprint into 64 lower-case hex digits plus NUL. Returns 0 or -1. */
/*
 * Normalises a fingerprint into lower-case hex plus NUL: 64 digits (SHA-256) or 40 (the SHA-1
 * thumbprint Windows' certificate dialog shows). Colons and spaces are ignored, and so are the
 * invisible characters a copy from that dialog brings along (U+200E/U+200F marks, no-break
 * space). Returns the number of digits, or -1.
 */
static int normalize_fingerprint(char *buf, const char *in)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == ':' || c == ' ' || c == '\t')
			continue;
		if (c == 0xe2 && (unsigned char)in[1] == 0x80 &&
		    ((unsigned char)in[2] == 0x8e || (unsigned char)in[2] == 0x8f)) {
			in += 2;
			continue;
		}
		if (c == 0xc2 && (unsigned char)in[1] == 0xa0) {
			in++;
			continue;
		}
		if (!isxdigit(c) || n == 64)
			return -1;
		buf[n++] = (char)tolower(c);
	}
	buf[n] = '\0';
	return n == 64 || n == 40 ? (int)n : -1;
}

/* Lower-case hex of the value's SHA-256 (digits 64) or SHA-1 (digits 40). */
static void value_digest(char *hex, const struct berval *bv, int digits)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i, len = digits == 40 ? SHA_DIGEST_LENGTH : SHA256_DIGEST_LENGTH;

	if (digits == 40)
		SHA1((const unsigned char *)bv->bv_val, bv->bv_len, md);
	else
		SHA256((const unsigned char *)bv->bv_val, bv->bv_len, md);
	for (i = 0; i < len; i++) {
		hex[2 * i] = hexd[md[i] >> 4];
		hex[2 * i + 1] = hexd[md[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

/*
 * The order-preserving form of taking the values picked[] off existing: from the first
 * picked value on, del holds every value in directory order and add the ones that stay, so
 * that the change's inverse puts every value back in its place (journal.h).
 */
static int plan_take(smp_plan **out, const smp_existing *existing, const unsigned char *picked)
{
	size_t nv = existing != NULL ? existing->n : 0, first = nv, i;
	smp_plan *p = NULL;
	int r;

	*out = NULL;
	for (i = 0; i < nv && first == nv; i++)
		if (picked[i])
			first = i;
	if ((r = plan_new(&p, nv, nv)) != 0)
		return r;
	for (i = first; i < nv; i++) {
		p->del[p->n_del++] = existing->values[i];
		if (picked[i])
			p->n_removed++;
		else
			p->add[p->n_add++] = existing->values[i];
	}
	p->action = p->n_removed > 0 ? SMP_ACT_REMOVED : SMP_ACT_UNCHANGED;
	*out = p;
	return 0;
}

int smp_plan_remove(smp_plan **out, const smp_existing *existing, const smp_remove_sel *sel)
{
	int r = SMP_ERR_INTERNAL;
	size_t n = existing != NULL ? existing->n : 0;
	unsigned char *picked = NULL;
	char want[65], have[65];
	int digits = 0;

	*out = NULL;
	if (sel->fingerprint != NULL && (digits = normalize_fingerprint(want, sel->fingerprint)) < 0)
		return SMP_ERR_USAGE;
	if ((picked = calloc(n + 1, 1)) == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const smp_certinfo *ci = existing->info[i];
		int take = sel->all;

		if (!take && sel->expired && ci != NULL && has_problem(ci, "expired"))
			take = 1;
		if (!take && sel->fingerprint != NULL) {
			value_digest(have, &existing->values[i], digits);
			take = strcmp(have, want) == 0;
		}
		picked[i] = (unsigned char)take;
	}
	if ((r = plan_take(out, existing, picked)) == 0 && (*out)->action == SMP_ACT_UNCHANGED)
		(*out)->reason = sel->fingerprint != NULL && !sel->expired && !sel->all ?
			"not_found" : "nothing_selected";
	free(picked);
	return r;
}

int smp_plan_prune(smp_plan **out, const smp_existing *existing, const smp_prune_pick *picks,
		   size_t n)
{
	size_t nv = existing != NULL ? existing->n : 0;
	unsigned char *picked = NULL;
	int r;

	*out = NULL;
	if ((picked = calloc(nv + 1, 1)) == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (picks[i].index >= nv) {
			free(picked);
			return SMP_ERR_USAGE;
		}
		picked[picks[i].index] = 1;
	}
	if ((r = plan_take(out, existing, picked)) == 0 && (*out)->action == SMP_ACT_UNCHANGED)
		(*out)->reason = "nothing_selected";
	free(picked);
	return r;
}

void smp_plan_best_order(size_t *order, const smp_existing *existing)
{
	size_t n = existing->n;
	size_t i, j, k = 0;

	for (i = 0; i < n; i++) {
		if (smp_cert_usable(existing->info[i]))
			order[k++] = i;
	}
	/* Insertion sort: stable, latest notAfter first. */
	for (i = 1; i < k; i++) {
		size_t v = order[i];

		for (j = i; j > 0 && better(existing->info[v], existing->info[order[j - 1]]); j--)
			order[j] = order[j - 1];
		order[j] = v;
	}
	for (i = 0; i < n; i++) {
		if (!smp_cert_usable(existing->info[i]))
			order[k++] = i;
	}
}

void smp_plan_free(smp_plan *p)
{
	if (p == NULL)
		return;
	free(p->del);
	free(p->add);
	free(p);
}
