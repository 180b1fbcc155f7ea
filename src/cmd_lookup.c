/* smimepub lookup: what a mail client finds for a recipient and whether it can encrypt (SPEC §4). */
#include <stdlib.h>
#include <string.h>

#include "smimepub/engine.h"

#include "advice.h"
#include "cli.h"

struct lookup_state {
	struct cli_out out;
	smp_dir *dir;
};

/* The problems as JSON, each with scope when not NULL. */
static json_t *problems_json(const smp_problem *p, size_t n, const char *scope)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, cli_problem_json(&p[i], scope));
	return arr;
}

static const char *const client_titles[SMP_CLIENT_COUNT] = {
	"Outlook", "OWA", "gpgsm", "Thunderbird",
};

/* "; taken by Outlook, OWA" for the clients in mask, or "" (static buffer). */
static const char *taken_by(unsigned mask)
{
	static char buf[96];
	size_t len = 0;

	buf[0] = '\0';
	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		if (mask & (1u << c))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
						len == 0 ? "; taken by " : ", ", client_titles[c]);
	return buf;
}

static void value_record(struct lookup_state *st, const char *addr, const smp_entry *e,
			 const smp_lookup_value *v, const smp_lookup_result *res, int findings)
{
	json_t *obj, *problems, *clients;
	const char *attr = v->attr != NULL ? v->attr : smp_dir_profile(st->dir)->cert_attr;
	const char *what = v->chosen ? "the certificate a mail client encrypts with"
		: v->usable ? "usable, but a client takes another value first"
			    : "not usable to encrypt";
	char *m = NULL;

	if (st->out.quiet)  /* -q: only an address no client can encrypt to */
		return;

	obj = json_object();
	if (st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", json_string(e->dn));
	json_object_set_new(obj, "attribute", json_string(attr));
	/* numbered as audit and prune number values: 0-based, in the attribute's order */
	json_object_set_new(obj, "index", json_integer((json_int_t)(v->position - 1)));
	json_object_set_new(obj, "chosen", json_boolean(v->chosen));
	json_object_set_new(obj, "usable", json_boolean(v->usable));
	clients = json_array();
	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		if (v->clients & (1u << c))
			json_array_append_new(clients, json_string(smp_client_name((smp_client)c)));
	json_object_set_new(obj, "clients", clients);
	json_object_set_new(obj, "message", json_string(""));
	if (v->info != NULL)
		json_object_update_new(obj, cli_certinfo_json(v->info));
	problems = problems_json(v->problems, v->n_problems, NULL);
	if (findings) {
		json_t *more = problems_json(res->findings, res->n_findings, "entry");

		json_array_extend(problems, more);
		json_decref(more);
	}
	json_object_set_new(obj, "problems", problems);
	if (asprintf(&m, "%s index %zu on '%s': %s%s", attr, v->position - 1, e->dn, what,
		     st->out.format == CLI_FMT_TEXT ? taken_by(v->clients) : "") >= 0) {
		json_object_set_new(obj, "message", json_string(m));
		free(m);
	}
	cli_out_record(&st->out, obj);
}

/* The per-address record when no usable certificate was found (on e, or anywhere when NULL). */
static void unusable_record(struct lookup_state *st, const char *addr, const smp_entry *e,
			    const char *reason, const char *message, json_t *findings)
{
	json_t *obj = json_object();

	if (st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", e != NULL ? json_string(e->dn) : json_null());
	json_object_set_new(obj, "usable", json_false());
	json_object_set_new(obj, "reason", json_string(reason));
	json_object_set_new(obj, "message", json_string(message));
	json_object_set_new(obj, "problems", findings != NULL ? json_incref(findings) : json_array());
	cli_out_record(&st->out, obj);
}

/* The records for one entry: each value, then why nothing on it is usable, if nothing is. */
static void entry_records(struct lookup_state *st, const char *addr, const smp_lookup_result *res)
{
	const smp_entry *e = res->entry;
	size_t chosen = (size_t)-1;
	json_t *findings;
	char *msg = NULL;

	for (size_t i = 0; i < res->n_values; i++)
		if (res->values[i].chosen)
			chosen = i;
	for (size_t i = 0; i < res->n_values; i++)
		value_record(st, addr, e, &res->values[i], res, i == chosen);
	if (chosen != (size_t)-1)
		return;
	if (asprintf(&msg, res->n_values == 0 ? "'%s' holds no certificate: a mail client "
		     "cannot encrypt to '%s'; publish one with smimepub publish"
		     : "none of the certificates on '%s' is usable: a mail "
		       "client cannot encrypt to '%s'",
		     e->dn, addr) < 0)
		msg = NULL;
	findings = problems_json(res->findings, res->n_findings, "entry");
	unusable_record(st, addr, e, res->n_values == 0 ? "no_certificate" : "no_usable_certificate",
			msg ? msg : "", findings);
	json_decref(findings);
	free(msg);
}

static int on_item(const smp_item *it, void *ctx)
{
	struct lookup_state *st = ctx;

	if (it->lookup != NULL)
		entry_records(st, it->source, it->lookup);
	else if (strcmp(it->action, "failed") == 0)
		cli_error("%s", it->message);
	else
		unusable_record(st, it->source, NULL, it->reason, it->message, NULL);
	return 0;
}

int cmd_lookup(struct cli_opts *o)
{
	struct lookup_state st;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_lookup_options lo = SMP_LOOKUP_OPTIONS_INIT;
	smp_session *s = NULL;
	smp_trust *trust = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r, status;

	memset(&st, 0, sizeof(st));
	cli_out_init(&st.out, o, stdout);
	if (o->nargs == 0) {
		cli_error("lookup needs at least one ADDRESS");
		return 64;
	}
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&st.dir, o, &err)) != 0) {
		cli_error_of(&err);
		smp_trust_free(trust);
		return smp_exit_status(r);
	}
	so.dir = st.dir;
	so.trust = trust;
	lo.on_item = on_item;
	lo.ctx = &st;
	if ((r = smp_session_new(&s, &so, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	for (int i = 0; i < o->nargs && r == 0; i++)
		r = smp_lookup(s, &lo, o->args[i], &err);
	if (r != 0) {
		cli_error_of(&err);
		smp_session_note_status(s, smp_exit_status(r));
	}
	status = smp_session_status(s);
out:
	smp_session_free(s);
	smp_dir_close(st.dir);
	smp_trust_free(trust);
	return status;
}
