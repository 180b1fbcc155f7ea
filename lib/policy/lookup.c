/* What mail clients find for one recipient on one entry (SPEC §4): audit's findings, arranged. */
#include "smimepub/lookup.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int add_problem(smp_problem **v, size_t *n, const smp_problem *p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends a copy of p (its code, remedy and severity, the message from fmt). */
static int add_problem(smp_problem **v, size_t *n, const smp_problem *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smp_problems_vadd(v, n, p->code, p->remedy, fmt, ap);
	va_end(ap);
	if (r == 0)
		(*v)[*n - 1].severity = p->severity;
	return r;
}

/* Copies the problems of av to lv, as audit has them. */
static int copy_problems(smp_lookup_value *lv, const smp_audit_value *av)
{
	const smp_problem *p;
	size_t n = smp_audit_value_problems(av, &p);

	for (size_t i = 0; i < n; i++) {
		if (add_problem(&lv->problems, &lv->n_problems, &p[i], "%s", p[i].message) != 0)
			return SMP_ERR_NOMEM;
		if (p[i].severity > lv->severity)
			lv->severity = p[i].severity;
	}
	return 0;
}

static void set_value(smp_lookup_value *lv, smp_cert_attr kind, const smp_audit_value *av,
		      const char *address)
{
	lv->kind = kind;
	lv->attr = av->attr;
	lv->index = av->index;
	lv->size = av->size;
	lv->sha256 = av->sha256;
	lv->info = av->info;
	lv->usable = smp_cert_usable_for(av->info, address);
}

static smp_severity worse(smp_severity a, smp_severity b)
{
	return a > b ? a : b;
}

/* Marks what each client takes, then reads the verdict from the values and the findings. */
static void judge(smp_lookup_result *res)
{
	size_t n_smime = res->audit->n_smime;

	for (size_t i = 0; i < res->n_findings; i++)
		res->severity = worse(res->severity, res->findings[i].severity);
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		const smp_client_pick *p = &res->picks[c];
		size_t base = p->attr == SMP_ATTR_SMIME ? 0 : n_smime;
		smp_lookup_value *v;

		res->severity = worse(res->severity, smp_client_why_severity(p->why));
		if (p->attr == SMP_ATTR_NONE)
			continue;
		for (size_t i = 0; i < p->n_taken; i++)
			res->values[base + (p->n_taken > 1 ? i : p->index)].clients |= 1u << c;
		v = &res->values[base + p->index];
		if (!p->encrypts)
			continue;
		v->encrypted_by |= 1u << c;
		res->encrypting |= 1u << c;
		res->severity = worse(res->severity, v->severity);
		if (c == SMP_CLIENT_OUTLOOK)
			v->chosen = 1;
	}
	if (res->n_values == 0)
		res->reason = SMP_LOOKUP_NO_CERTIFICATE;
	else if (res->encrypting == 0)
		res->reason = SMP_LOOKUP_NO_USABLE;
	else if (res->encrypting != (1u << SMP_CLIENT_COUNT) - 1)
		res->reason = SMP_LOOKUP_SOME_CLIENTS;
	res->usable = res->severity < SMP_SEV_CRITICAL;
}

/* See lookup.h. */
int smp_lookup_entry(smp_lookup_result **out, const smp_entry *e, const char *address,
		     size_t n_matches, const smp_trust *t, smp_error *err)
{
	smp_lookup_result *res = NULL;
	smp_audit_entry *a;
	smp_problem ambiguous = { "ambiguous", SMP_SEV_CRITICAL, NULL, SMP_REMEDY_NONE, NULL, NULL, 0 };
	int r = SMP_ERR_INTERNAL;

	*out = NULL;
	if (e == NULL || address == NULL || t == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_lookup_entry: null argument");
	if ((res = calloc(1, sizeof(*res))) == NULL)
		goto nomem;
	res->entry = e;
	if ((r = smp_audit_entry_for(&res->audit, e, address, t, err)) != 0)
		goto out;
	a = res->audit;
	memcpy(res->picks, a->picks, sizeof(res->picks));
	if (n_matches > 1) {
		ambiguous.severity = smp_problem_severity("ambiguous");
		if (add_problem(&res->findings, &res->n_findings, &ambiguous,
				"%zu entries have the address '%s': clients may pick any of them; "
				"give each a distinct address or remove the duplicate", n_matches,
				address) != 0)
			goto nomem;
	}
	for (size_t i = 0; i < a->n_entry_problems; i++)
		if (add_problem(&res->findings, &res->n_findings, &a->entry_problems[i], "%s",
				a->entry_problems[i].message) != 0)
			goto nomem;
	res->values = calloc(a->n_smime + a->n_values + 1, sizeof(*res->values));
	if (res->values == NULL)
		goto nomem;
	for (size_t i = 0; i < a->n_smime; i++) {
		smp_lookup_value *lv = &res->values[res->n_values++];

		set_value(lv, SMP_ATTR_SMIME, &a->smime[i], address);
		if (copy_problems(lv, &a->smime[i]) != 0)
			goto nomem;
	}
	for (size_t i = 0; i < a->n_values; i++) {
		smp_lookup_value *lv = &res->values[res->n_values++];

		set_value(lv, SMP_ATTR_CERT, &a->values[i], address);
		if (copy_problems(lv, &a->values[i]) != 0)
			goto nomem;
	}
	judge(res);
	*out = res;
	res = NULL;
	r = 0;
	goto out;
nomem:
	r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory looking up '%s'", address);
out:
	smp_lookup_result_free(res);
	return r;
}

/* See lookup.h. */
void smp_lookup_result_free(smp_lookup_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_values; i++)
		smp_problems_free(r->values[i].problems, r->values[i].n_problems);
	free(r->values);
	smp_problems_free(r->findings, r->n_findings);
	smp_audit_entry_free(r->audit);
	free(r);
}
