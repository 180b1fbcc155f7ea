/* smimepub lookup: what a mail client finds for a recipient and whether it can encrypt (SPEC §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smimepub/engine.h"

#include "advice.h"
#include "cli.h"
#include "stop.h"

/*
 * What is decided (which value each client takes, whether it encrypts, why not, the verdict)
 * is smp_lookup_entry's; this file only puts it in words. Every entry reads from the top down:
 * one record per value (the same lines audit prints for it), one line per client, then the
 * verdict, whose severity is the worst of what the lines above it say.
 */

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

/* Severity as the certificate lines print it. */
static const char *severity_word(smp_severity sev)
{
	return sev == SMP_SEV_CRITICAL ? "CRITICAL" : sev == SMP_SEV_WARNING ? "warning" : "ok";
}

static const char *value_attr(const struct lookup_state *st, const smp_lookup_value *v)
{
	if (v->attr != NULL)
		return v->attr;
	return v->kind == SMP_ATTR_SMIME ? "userSMIMECertificate"
					 : smp_dir_profile(st->dir)->cert_attr;
}

/* The value a client's pick points at, or NULL. */
static const smp_lookup_value *picked(const smp_lookup_result *res, const smp_client_pick *p)
{
	if (p->attr == SMP_ATTR_NONE)
		return NULL;
	return &res->values[(p->attr == SMP_ATTR_SMIME ? 0 : res->audit->n_smime) + p->index];
}

/* How many values the entry has in the attribute of v. */
static size_t attr_count(const smp_lookup_result *res, const smp_lookup_value *v)
{
	return v->kind == SMP_ATTR_SMIME ? res->audit->n_smime : res->audit->n_values;
}

/* Why a client cannot encrypt with v (or at all), in plain words, into fp. */
static void why_words(FILE *fp, const char *why, const smp_lookup_value *v, const char *addr)
{
	const smp_certinfo *ci = v != NULL ? v->info : NULL;
	char when[32] = "";

	if (strcmp(why, "expired") == 0 && ci != NULL) {
		smp_format_time(when, sizeof(when), ci->not_after);
		fprintf(fp, "it expired on %s", when);
	} else if (strcmp(why, "not_yet_valid") == 0 && ci != NULL) {
		smp_format_time(when, sizeof(when), ci->not_before);
		fprintf(fp, "it is not valid before %s", when);
	} else if (strcmp(why, "revoked") == 0) {
		fputs("it is revoked", fp);
	} else if (strcmp(why, "malformed") == 0) {
		fputs("the value is not a certificate", fp);
	} else if (strcmp(why, "no_encryption") == 0) {
		fputs("its key usage does not allow encryption", fp);
	} else if (strcmp(why, "no_email_protection") == 0) {
		fputs("its extended key usage does not allow e-mail", fp);
	} else if (strcmp(why, "address_mismatch") == 0 && ci != NULL && ci->n_emails > 0) {
		fprintf(fp, "it is for '%s', not for '%s': mail to '%s' would be encrypted to "
			"%s's key", ci->emails[0], addr, addr, ci->emails[0]);
	} else if (strcmp(why, "address_mismatch") == 0) {
		fprintf(fp, "no value on the entry is for '%s'", addr);
	} else if (strcmp(why, SMP_CLIENT_WHY_EC_KEY) == 0 && ci != NULL) {
		fprintf(fp, "its key is %s, and gpgsm 2.2 encrypts to RSA keys only", ci->key_type);
	} else if (strcmp(why, SMP_CLIENT_WHY_NOT_IN_MAIL) == 0) {
		fprintf(fp, "it looks up the mail attribute, and '%s' is only in proxyAddresses",
			addr);
	} else if (strcmp(why, SMP_CLIENT_WHY_NO_CERT) == 0) {
		fputs("there is no userCertificate value", fp);
	} else if (strcmp(why, SMP_CLIENT_WHY_NONE_USABLE) == 0) {
		fprintf(fp, "no userCertificate value is usable for '%s'", addr);
	} else {
		fputs(why, fp);
	}
}

/* One client's line: which value it takes and whether encryption to addr works (malloc'd). */
static char *client_words(const struct lookup_state *st, const smp_lookup_result *res,
			  smp_client c, const char *addr)
{
	const smp_client_pick *p = &res->picks[c];
	const smp_lookup_value *v = picked(res, p);
	char *buf = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&buf, &size);

	if (fp == NULL)
		return NULL;
	if (v == NULL) {
		fputs(strcmp(p->why, SMP_CLIENT_WHY_NOT_IN_MAIL) == 0 ? "does not find the entry"
								       : "takes nothing", fp);
		fputs(", so it cannot encrypt: ", fp);
		why_words(fp, p->why, NULL, addr);
	} else if (p->n_taken > 1) {
		fprintf(fp, "imports %s index 0 to %zu, ", value_attr(st, v), p->n_taken - 1);
		if (p->encrypts)
			fprintf(fp, "encrypts with index %zu", p->index);
	} else {
		fprintf(fp, "%s %s index %zu%s", p->encrypts ? "encrypts with" : "takes",
			value_attr(st, v), p->index,
			c == SMP_CLIENT_OUTLOOK && p->attr == SMP_ATTR_SMIME
				? " (while userSMIMECertificate is set it never reads userCertificate)"
				: "");
	}
	if (!p->encrypts && v != NULL) {
		fputs(p->n_taken > 1 ? "cannot encrypt: " : ": cannot encrypt: ", fp);
		if (p->n_taken > 1 && strcmp(p->why, "address_mismatch") != 0)
			fputs("none is usable (index 0: ", fp);
		why_words(fp, p->why, p->n_taken > 1 && strcmp(p->why, "address_mismatch") == 0
					     ? NULL : v, addr);
		if (p->n_taken > 1 && strcmp(p->why, "address_mismatch") != 0)
			fputc(')', fp);
	} else if (p->encrypts && v->severity == SMP_SEV_CRITICAL) {
		fputs(", but the certificate has a critical problem (see its lines)", fp);
	}
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "Outlook, OWA and gpgsm" for the clients in mask, into fp; returns how many. */
static int client_list(FILE *fp, unsigned mask)
{
	int n = 0, left = 0;

	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		left += (mask >> c) & 1u;
	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		if (!(mask & (1u << c)))
			continue;
		fprintf(fp, "%s%s", n == 0 ? "" : left == 1 ? " and " : ", ", client_titles[c]);
		n++;
		left--;
	}
	return n;
}

/* The clients in mask and a verb that agrees: "gpgsm takes", "OWA and gpgsm take". */
static void clients_verb(FILE *fp, unsigned mask, const char *one, const char *many)
{
	fputs(client_list(fp, mask) == 1 ? one : many, fp);
}

/* What the value's line says about it: usable or not, who takes it and who encrypts with it. */
static char *value_words(const struct lookup_state *st, const smp_lookup_result *res,
			 const smp_lookup_value *v, const char *addr)
{
	unsigned fails = v->clients & ~v->encrypted_by;
	char *buf = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&buf, &size);

	if (fp == NULL)
		return NULL;
	fprintf(fp, "%s index %zu: %s for '%s'", value_attr(st, v), v->index,
		v->usable ? "usable" : "not usable", addr);
	if (v->encrypted_by != 0) {
		fputs("; ", fp);
		clients_verb(fp, v->encrypted_by, " encrypts with it", " encrypt with it");
	}
	/* Thunderbird imports every value but encrypts with one: not a failure of this value */
	if (res->picks[SMP_CLIENT_THUNDERBIRD].n_taken > 1 &&
	    (v->clients & (1u << SMP_CLIENT_THUNDERBIRD)) &&
	    !(v->encrypted_by & (1u << SMP_CLIENT_THUNDERBIRD)) &&
	    (res->picks[SMP_CLIENT_THUNDERBIRD].encrypts || v->index > 0)) {
		fails &= ~(1u << SMP_CLIENT_THUNDERBIRD);
		fputs("; Thunderbird imports it", fp);
	}
	if (fails != 0) {
		fputs("; ", fp);
		clients_verb(fp, fails, " takes it and cannot encrypt",
			     " take it and cannot encrypt");
	}
	if (v->clients == 0)
		fputs(v->usable ? "; no client takes it (another comes first)"
				: "; no client takes it", fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The verdict in one sentence: the severity, who encrypts, who does not (malloc'd). */
static char *verdict_words(const smp_lookup_result *res, const char *addr)
{
	unsigned all = (1u << SMP_CLIENT_COUNT) - 1, fails = all & ~res->encrypting;
	char *buf = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&buf, &size);

	if (fp == NULL)
		return NULL;
	fprintf(fp, "%s: ", severity_word(res->severity));
	if (res->n_values == 0)
		fprintf(fp, "'%s' holds no certificate: no mail client can encrypt to '%s'; "
			"publish one with smimepub publish", res->entry->dn, addr);
	else if (res->encrypting == 0)
		fprintf(fp, "no mail client can encrypt to '%s' with what '%s' holds", addr,
			res->entry->dn);
	else if (fails == 0)
		fprintf(fp, "every mail client encrypts to '%s'", addr);
	if (res->encrypting != 0 && fails != 0) {
		clients_verb(fp, res->encrypting, " encrypts", " encrypt");
		fprintf(fp, " to '%s'; ", addr);
		client_list(fp, fails);
		fputs(" cannot", fp);
	}
	if (fails == 0 && res->severity == SMP_SEV_CRITICAL)
		fputs(", but with a certificate that has a critical problem", fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The JSON names of the clients in mask. */
static json_t *client_names(unsigned mask)
{
	json_t *arr = json_array();

	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		if (mask & (1u << c))
			json_array_append_new(arr, json_string(smp_client_name((smp_client)c)));
	return arr;
}

static void value_record(struct lookup_state *st, const char *addr, const smp_lookup_result *res,
			 const smp_lookup_value *v)
{
	const smp_entry *e = res->entry;
	json_t *obj;
	char role[160];
	char *m;

	obj = json_object();
	if (st->out.format == CLI_FMT_CSV)  /* the row's first column: whom it is about */
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "type", json_string("certificate"));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", json_string(e->dn));
	json_object_set_new(obj, "attribute", json_string(value_attr(st, v)));
	/* numbered as audit, prune and remove number values: from 0, in the attribute's order */
	json_object_set_new(obj, "index", json_integer((json_int_t)v->index));
	json_object_set_new(obj, "values", json_integer((json_int_t)attr_count(res, v)));
	if (st->out.format != CLI_FMT_TEXT)
		json_object_set_new(obj, "chosen", json_boolean(v->chosen));
	json_object_set_new(obj, "usable", json_boolean(v->usable));
	json_object_set_new(obj, "clients", client_names(v->clients));
	json_object_set_new(obj, "encrypted_by", client_names(v->encrypted_by));
	m = value_words(st, res, v, addr);
	json_object_set_new(obj, "message", json_string(m != NULL ? m : ""));
	free(m);
	if (v->info != NULL)
		json_object_update_new(obj, cli_certinfo_json(v->info));
	else if (st->out.format != CLI_FMT_TEXT && v->sha256 != NULL && *v->sha256 != '\0')
		json_object_set_new(obj, "sha256", json_string(v->sha256));
	json_object_set_new(obj, "problems", problems_json(v->problems, v->n_problems, NULL));
	if (st->out.format == CLI_FMT_TEXT) {
		/* the heading audit gives the same value */
		snprintf(role, sizeof(role), "index %zu of %zu values, %s", v->index,
			 attr_count(res, v), value_attr(st, v));
		json_object_set_new(obj, "role", json_string(role));
	}
	cli_out_record(&st->out, obj);
}

/* The verdict for one entry: every client's line, the verdict, the entry's findings. */
static void entry_record(struct lookup_state *st, const char *addr, const smp_lookup_result *res)
{
	json_t *obj, *clients = json_object();
	char *verdict = verdict_words(res, addr), *line[SMP_CLIENT_COUNT];
	char *joined = NULL;
	size_t size = 0;
	FILE *fp;

	for (int c = 0; c < SMP_CLIENT_COUNT; c++) {
		const smp_client_pick *p = &res->picks[c];
		const smp_lookup_value *v = picked(res, p);
		json_t *one;

		line[c] = client_words(st, res, (smp_client)c, addr);
		one = json_pack("{s:s?, s:o, s:I, s:b, s:s?, s:s}", "attribute",
				v != NULL ? value_attr(st, v) : NULL, "index",
				v != NULL ? json_integer((json_int_t)p->index) : json_null(),
				"values_taken", (json_int_t)p->n_taken, "encrypts", p->encrypts,
				"reason", p->why, "message", line[c] != NULL ? line[c] : "");
		json_object_set_new(clients, smp_client_name((smp_client)c), one);
	}
	if (st->out.format == CLI_FMT_TEXT) {
		FILE *out = st->out.fp;

		if (!st->out.quiet || !res->usable) {
			if (st->out.quiet)  /* -q: the values were not printed; say where */
				fprintf(out, "%s -> %s\n", addr, res->entry->dn);
			for (int c = 0; c < SMP_CLIENT_COUNT; c++)
				fprintf(out, "  %-12s %s\n", client_titles[c],
					line[c] != NULL ? line[c] : "");
			fprintf(out, "%s: %s\n", addr, verdict != NULL ? verdict : "");
			for (size_t i = 0; i < res->n_findings; i++) {
				char *text = cli_problem_text(&res->findings[i]);

				fprintf(out, "    %-8s %-20s %s\n",
					smp_severity_name(res->findings[i].severity),
					res->findings[i].code, text != NULL ? text : "");
				free(text);
			}
			fflush(out);
		}
		json_decref(clients);
		goto out;
	}
	if (st->out.quiet && res->usable) {
		json_decref(clients);
		goto out;
	}
	/* CSV has one message column: the verdict, then each client's line */
	if (st->out.format == CLI_FMT_CSV && (fp = open_memstream(&joined, &size)) != NULL) {
		fputs(verdict != NULL ? verdict : "", fp);
		for (int c = 0; c < SMP_CLIENT_COUNT; c++)
			fprintf(fp, "; %s %s", client_titles[c], line[c] != NULL ? line[c] : "");
		if (fclose(fp) != 0) {
			free(joined);
			joined = NULL;
		}
	}
	obj = json_object();
	if (st->out.format == CLI_FMT_CSV)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "type", json_string("entry"));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", json_string(res->entry->dn));
	json_object_set_new(obj, "usable", json_boolean(res->usable));
	json_object_set_new(obj, "severity", json_string(smp_severity_name(res->severity)));
	json_object_set_new(obj, "reason", res->reason != NULL ? json_string(res->reason)
							      : json_null());
	json_object_set_new(obj, "message",
			    json_string(joined != NULL ? joined : verdict != NULL ? verdict : ""));
	json_object_set_new(obj, "encrypted_by", client_names(res->encrypting));
	if (st->out.format == CLI_FMT_JSON)
		json_object_set_new(obj, "clients", clients);
	else
		json_decref(clients);
	json_object_set_new(obj, "problems", problems_json(res->findings, res->n_findings, "entry"));
	cli_out_record(&st->out, obj);
out:
	for (int c = 0; c < SMP_CLIENT_COUNT; c++)
		free(line[c]);
	free(verdict);
	free(joined);
}

/* The per-address record when no entry was judged (not found, not an address, ...). */
static void address_record(struct lookup_state *st, const char *addr, const char *reason,
			   const char *message)
{
	json_t *obj = json_object();

	if (st->out.format != CLI_FMT_JSON)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "type", json_string("address"));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", json_null());
	json_object_set_new(obj, "usable", json_false());
	json_object_set_new(obj, "severity", json_string("critical"));
	json_object_set_new(obj, "reason", json_string(reason));
	json_object_set_new(obj, "message", json_string(message));
	json_object_set_new(obj, "problems", json_array());
	cli_out_record(&st->out, obj);
}

/* The records for one entry: each value, then each client and the verdict. */
static void entry_records(struct lookup_state *st, const char *addr, const smp_lookup_result *res)
{
	if (!st->out.quiet) {  /* -q: only the verdict of an address clients cannot encrypt to */
		if (st->out.format == CLI_FMT_TEXT) {
			if (!st->out.index_legend_done && res->n_values > 0) {
				fprintf(st->out.fp, "%s\n", CLI_INDEX_LEGEND);
				st->out.index_legend_done = 1;
			}
			fprintf(st->out.fp, "%s -> %s\n", addr, res->entry->dn);
			fflush(st->out.fp);
		}
		for (size_t i = 0; i < res->n_values; i++)
			value_record(st, addr, res, &res->values[i]);
	}
	entry_record(st, addr, res);
}

static int on_item(const smp_item *it, void *ctx)
{
	struct lookup_state *st = ctx;

	if (it->lookup != NULL)
		entry_records(st, it->source, it->lookup);
	else if (strcmp(it->action, "failed") == 0)
		cli_error("%s", it->message);
	else
		address_record(st, it->source, it->reason, it->message);
	return 0;
}

int cli_lookup_run(smp_session *s, smp_dir *dir, struct cli_out *out, const char *address,
		   smp_error *err)
{
	struct lookup_state st;
	smp_lookup_options lo = SMP_LOOKUP_OPTIONS_INIT;
	int r;

	memset(&st, 0, sizeof(st));
	st.out = *out;
	st.dir = dir;
	lo.on_item = on_item;
	lo.ctx = &st;
	r = smp_lookup(s, &lo, address, err);
	out->csv_header_done = st.out.csv_header_done;
	out->index_legend_done = st.out.index_legend_done;
	return r;
}

int cmd_lookup(struct cli_opts *o)
{
	struct lookup_state st;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
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
	if ((r = cli_connect(&st.dir, o, &err)) != 0 ||
	    (r = cli_trust_directory(trust, st.dir, o, &err)) != 0) {
		cli_error_of(&err);
		if (st.dir != NULL)
			smp_dir_close(st.dir);
		smp_trust_free(trust);
		return smp_exit_status(r);
	}
	so.dir = st.dir;
	so.trust = trust;
	if ((r = smp_session_new(&s, &so, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	/* cli_stop: the output went away, nothing more can be reported */
	for (int i = 0; i < o->nargs && r == 0 && cli_stop == 0; i++)
		r = cli_lookup_run(s, st.dir, &st.out, o->args[i], &err);
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
