/* smimepub inspect: read certificates (and signed mail) and report facts and problems. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "smimepub/message.h"

#include "advice.h"
#include "cli.h"
#include "inputs.h"
#include "signer.h"

#define INSPECT_MAX_INPUT (16u * 1024u * 1024u)

struct inspect_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	int status;       /* worst input status (smp_status_worse): 0, 65, 66 */
	int critical;     /* a certificate had a critical problem */
};

static void note_status(struct inspect_state *st, int status)
{
	st->status = smp_status_worse(st->status, status);
}

static void report_cert(struct inspect_state *st, const char *file, X509 *leaf,
			STACK_OF(X509) *extra)
{
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	json_t *obj;

	if (smp_cert_analyze(&ci, leaf, extra, st->trust, &err) != 0) {
		cli_error("cannot inspect a certificate in '%s': %s", file, err.msg);
		note_status(st, 65);
		return;
	}
	if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL)
		st->critical = 1;
	obj = json_pack("{s:s}", "file", file);
	json_object_update_new(obj, cli_certinfo_json(ci));
	cli_out_record(&st->out, obj);
	smp_certinfo_free(ci);
}

static int has_suffix(const char *path, const char *suffix)
{
	size_t len = strlen(path), sl = strlen(suffix);

	return len > sl && strcasecmp(path + len - sl, suffix) == 0;
}

/*
 * Whether an input is mail rather than certificates: a directory (Maildir), a mail or CMS
 * file by name, an mbox, or text that starts with RFC 5322 header fields and has a MIME
 * Content-Type.
 */
static int looks_like_mail(const char *path, const unsigned char *data, size_t len)
{
	struct stat st;
	size_t head = len < 8192 ? len : 8192;
	size_t i = 0;

	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	if (has_suffix(path, ".eml") || has_suffix(path, ".p7s") || has_suffix(path, ".p7m") ||
	    has_suffix(path, ".mbox") || has_suffix(path, ".msg"))
		return 1;
	if (data == NULL)
		return 0;
	if (len >= 5 && memcmp(data, "From ", 5) == 0)
		return 1;
	while (i < head && data[i] != ':' && data[i] > ' ' && data[i] < 127)
		i++;
	if (i == 0 || i >= head || data[i] != ':')
		return 0;
	return memmem(data, head, "Content-Type:", 13) != NULL ||
	       memmem(data, head, "Content-type:", 13) != NULL ||
	       memmem(data, head, "content-type:", 13) != NULL;
}

/* Reports one certificate taken from signer s of m (its own, or its encryption preference). */
static void report_signer(struct inspect_state *st, const smp_message *m, const smp_signer *s,
			  X509 *cert)
{
	smp_certinfo *ci = NULL, *signer_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	json_t *obj;
	int r;

	if ((r = smp_cert_analyze(&ci, cert, m->carried, st->trust, &err)) != 0 ||
	    (r = smp_signer_problems(ci, cert, m, s, st->trust, 0, &signer_ci, &err)) < 0) {
		cli_error("cannot inspect a signer certificate in '%s': %s", m->file, err.msg);
		note_status(st, 65);
		smp_certinfo_free(ci);
		return;
	}
	if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL)
		st->critical = 1;
	obj = cli_certinfo_json(ci);
	cli_message_fields(obj, m);
	cli_signer_fields(obj, m, s, cert != s->cert, signer_ci);
	cli_out_record(&st->out, obj);
	smp_certinfo_free(signer_ci);
	smp_certinfo_free(ci);
}

static int inspect_message(const smp_message *m, void *arg)
{
	struct inspect_state *st = arg;
	json_t *obj;

	if (m->kind != SMP_MSG_SIGNED || m->n_signers == 0) {
		obj = json_object();
		cli_message_fields(obj, m);
		json_object_set_new(obj, "message", json_string(
			m->kind == SMP_MSG_MALFORMED && m->problem ? m->problem
								   : cli_message_advice(m->kind)));
		if (m->kind == SMP_MSG_MALFORMED) {
			cli_error("cannot read a message in '%s': %s", m->file,
				  m->problem ? m->problem : "malformed");
			note_status(st, 65);
		}
		cli_out_record(&st->out, obj);
		return 0;
	}
	for (size_t i = 0; i < m->n_signers; i++) {
		const smp_signer *s = &m->signers[i];

		if (s->cert == NULL) {
			obj = json_object();
			cli_message_fields(obj, m);
			json_object_set_new(obj, "source", json_string("signer"));
			json_object_set_new(obj, "signature", json_string("bad"));
			json_object_set_new(obj, "message", json_string(
				"the message does not carry the signer's certificate: ask the sender "
				"to include it"));
			cli_out_record(&st->out, obj);
			continue;
		}
		report_signer(st, m, s, s->cert);
		if (s->encryption_cert != NULL)
			report_signer(st, m, s, s->encryption_cert);
	}
	return 0;
}

static void inspect_mail(struct inspect_state *st, const char *path)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	r = smp_messages_read(path, inspect_message, st, &err);
	if (r != 0) {
		cli_error_of(&err);
		note_status(st, smp_exit_status(r));
	}
}

static void inspect_message_data(struct inspect_state *st, const char *path,
				 const unsigned char *data, size_t len)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	r = smp_messages_parse(data, len, path, inspect_message, st, &err);
	if (r != 0) {
		cli_error("cannot read '%s': %s", path, err.msg);
		note_status(st, smp_exit_status(r));
	}
}

static void inspect_certificates(struct inspect_state *st, const char *path,
				 const unsigned char *data, size_t len)
{
	smp_bundle *b = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (smp_bundle_read(&b, data, len, &err) != 0) {
		cli_error("cannot read '%s': %s", path, err.msg);
		note_status(st, smp_exit_status(err.code));
		return;
	}
	for (size_t i = 0; i < smp_bundle_leaf_count(b); i++)
		report_cert(st, path, smp_bundle_leaf(b, i), smp_bundle_all(b));
	smp_bundle_free(b);
}

static void inspect_path(struct inspect_state *st, const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_error err = SMP_ERROR_INIT;

	if (looks_like_mail(path, NULL, 0)) {
		inspect_mail(st, path);
		return;
	}
	if (cli_read_file(&data, &len, path, INSPECT_MAX_INPUT, &err) != 0) {
		cli_error_of(&err);
		note_status(st, smp_exit_status(err.code));
		return;
	}
	if (looks_like_mail(path, data, len))
		inspect_message_data(st, path, data, len);
	else
		inspect_certificates(st, path, data, len);
	free(data);
}

int cmd_inspect(struct cli_opts *o)
{
	struct inspect_state st;
	struct cli_inputs in;
	smp_error err = SMP_ERROR_INIT;
	int r;

	memset(&st, 0, sizeof(st));
	st.o = o;
	cli_out_init(&st.out, o, stdout);
	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("inspect needs at least one FILE ('-' reads standard input)");
		return 64;
	}
	if ((r = cli_trust(&st.trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0) {
		cli_error_of(&err);
		smp_trust_free(st.trust);
		return smp_exit_status(r);
	}
	for (size_t i = 0; i < in.n; i++)
		inspect_path(&st, in.paths[i]);
	cli_inputs_release(&in);
	smp_trust_free(st.trust);
	return smp_status_worse(st.status, o->strict && st.critical ? 1 : 0);
}
