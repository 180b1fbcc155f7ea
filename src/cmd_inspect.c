/* smimepub inspect: read certificates (and signed mail) and report facts and problems. */
#include <stdlib.h>
#include <string.h>

#include "smimepub/engine.h"

#include "advice.h"
#include "cli.h"
#include "stop.h"
#include "inputs.h"
#include "signer.h"

struct inspect_state {
	struct cli_out out;
	int critical;     /* a certificate had a critical problem */
	char **failure;   /* where to keep the first failed input's message, or NULL: stderr */
};

/* The record for a message without a certificate to take (unsigned, encrypted, malformed). */
static json_t *message_record(const smp_item *it)
{
	const smp_message *m = it->mail;
	json_t *obj = json_object();

	cli_message_fields(obj, m);
	json_object_set_new(obj, "message", json_string(
		m->kind == SMP_MSG_MALFORMED && m->problem ? m->problem
							   : cli_message_advice(m->kind)));
	return obj;
}

/* The record for a signer whose certificate the message does not carry. */
static json_t *uncarried_record(const smp_item *it)
{
	json_t *obj = json_object();

	cli_message_fields(obj, it->mail);
	json_object_set_new(obj, "source", json_string("signer"));
	json_object_set_new(obj, "signature", json_string("unchecked"));  /* no key to check with */
	json_object_set_new(obj, "message", json_string(
		"the message does not carry the signer's certificate: ask the sender to include "
		"it"));
	return obj;
}

static int on_item(const smp_item *it, void *ctx)
{
	struct inspect_state *st = ctx;
	json_t *obj;

	if (strcmp(it->action, "failed") == 0 && st->failure == NULL)
		cli_error("%s", it->message);
	else if (strcmp(it->action, "failed") == 0 && *st->failure == NULL)
		*st->failure = strdup(it->message);
	if (it->cert != NULL) {
		if (smp_certinfo_worst(it->cert) == SMP_SEV_CRITICAL)
			st->critical = 1;
		if (it->mail == NULL) {
			obj = json_pack("{s:s}", "file", it->source);
			json_object_update_new(obj, cli_certinfo_json(it->cert));
		} else {
			obj = cli_certinfo_json(it->cert);
			cli_message_fields(obj, it->mail);
			cli_signer_fields(obj, it->mail, it->signer, it->preference,
					  it->signer_cert);
		}
	} else if (it->mail != NULL) {
		obj = it->signer != NULL ? uncarried_record(it) : message_record(it);
	} else {
		return 0;  /* an input that could not be read: said above */
	}
	/* -q: only the certificates with a critical problem */
	if (st->out.quiet && (it->cert == NULL || smp_certinfo_worst(it->cert) != SMP_SEV_CRITICAL)) {
		json_decref(obj);
		return 0;
	}
	cli_out_record(&st->out, obj);
	return cli_stop != 0;  /* the output went away: nothing more can be reported */
}

int cli_inspect_run(smp_session *s, struct cli_out *out, const char *const *paths, size_t n,
		    int *critical, char **failure, smp_error *err)
{
	struct inspect_state st;
	smp_inspect_options io = SMP_INSPECT_OPTIONS_INIT;
	int r;

	memset(&st, 0, sizeof(st));
	st.out = *out;
	st.failure = failure;
	io.on_item = on_item;
	io.ctx = &st;
	r = smp_inspect_paths(s, &io, paths, n, err);
	*critical = st.critical;
	return r;
}

int cmd_inspect(struct cli_opts *o)
{
	struct cli_inputs in;
	struct cli_out out;
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_session *s = NULL;
	smp_trust *trust = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r, status, critical = 0;

	memset(&in, 0, sizeof(in));
	cli_out_init(&out, o, stdout);
	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("inspect needs at least one FILE ('-' reads standard input)");
		return 64;
	}
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	/*
	 * --trust directory: inspect connects as the other commands do (-H/-b or ldap.conf),
	 * reads the CAs once and closes the connection again: judging needs nothing more.
	 */
	if (smp_trust_sources(trust) & SMP_TRUST_DIRECTORY) {
		smp_dir *dir = NULL;

		if ((r = cli_connect(&dir, o, &err)) == 0)
			r = cli_trust_directory(trust, dir, o, &err);
		if (dir != NULL)
			smp_dir_close(dir);
		if (r != 0) {
			/* say why inspect, which reads only files otherwise, went to a directory */
			cli_error("--trust directory: cannot read the directory's CA certificates: "
				  "%s%s", err.msg, cli_hint(err.hint));
			smp_trust_free(trust);
			return smp_exit_status(r);
		}
	}
	so.trust = trust;
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0 ||
	    (r = smp_session_new(&s, &so, &err)) != 0 ||
	    (r = cli_inspect_run(s, &out, (const char *const *)in.paths, in.n, &critical, NULL,
				 &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
	} else {
		status = smp_status_worse(smp_session_status(s), o->strict && critical ? 1 : 0);
	}
	smp_session_free(s);
	cli_inputs_release(&in);
	smp_trust_free(trust);
	return status;
}
