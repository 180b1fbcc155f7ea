/*
 * smimepub engine: inspect, which reads certificates in every form and signed mail and
 * reports each certificate's facts and problems (engine.h). No directory: findings come from
 * the certificate, its chain with the session's trust, and the message it was taken from.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "exec.h"
#include "smimepub/message.h"

/* Inputs larger than this are not certificates or a message anyone means to inspect. */
#define INSPECT_MAX_INPUT (16u * 1024u * 1024u)

struct inspect_run {
	smp_session *s;
	const smp_inspect_options *o;
	int stop;                 /* on_item's non-zero value: nothing more is reported */
};

/* Hands it out through the engine's one emitter; remembers a request to stop. */
static void emit(struct inspect_run *st, smp_item *it)
{
	pub_emit_item(st->s, it, st->o->on_item, st->o->ctx, &st->stop);
}

/* The reason code and exit status for an input that could not be read (err's code). */
static void failed_item(smp_item *it, int code)
{
	it->action = "failed";
	it->status = smp_exit_status(code);
	it->reason = code == SMP_ERR_NOFILE ? "file_not_found" : "unreadable";
}

/* Reports a failure about source with a message in plain words. */
static void emit_failure(struct inspect_run *st, const char *source, int code, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));

static void emit_failure(struct inspect_run *st, const char *source, int code, const char *fmt,
			 ...)
{
	smp_item it;
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	memset(&it, 0, sizeof(it));
	it.source = source;
	failed_item(&it, code);
	it.message = msg != NULL ? msg : "out of memory";
	emit(st, &it);
	free(msg);
}

static void inspect_cert(struct inspect_run *st, const char *file, X509 *leaf,
			 STACK_OF(X509) *extra)
{
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	smp_item it;

	if (smp_cert_analyze(&ci, leaf, extra, st->s->trust, &err) != 0) {
		emit_failure(st, file, SMP_ERR_BADINPUT,
			     "cannot inspect a certificate in '%s': %s", file, err.msg);
		return;
	}
	memset(&it, 0, sizeof(it));
	it.source = file;
	it.action = "inspected";
	it.cert = ci;
	emit(st, &it);
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
int pub_looks_like_mail(const char *path, const unsigned char *data, size_t len)
{
	struct stat sb;
	size_t head = len < 8192 ? len : 8192;
	size_t i = 0;

	if (strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
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

/* One certificate taken from signer sg of m (its own, or its encryption key preference). */
static void inspect_signer(struct inspect_run *st, const smp_message *m, const smp_signer *sg,
			   X509 *cert)
{
	smp_certinfo *ci = NULL, *signer_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	smp_item it;

	if (smp_cert_analyze(&ci, cert, m->carried, st->s->trust, &err) != 0 ||
	    smp_signer_problems(ci, cert, m, sg, st->s->trust, 0, &signer_ci, &err) < 0) {
		emit_failure(st, m->file, SMP_ERR_BADINPUT,
			     "cannot inspect a signer certificate in '%s': %s", m->file, err.msg);
		smp_certinfo_free(ci);
		return;
	}
	memset(&it, 0, sizeof(it));
	it.source = m->file;
	it.action = "inspected";
	it.cert = ci;
	it.mail = m;
	it.signer = sg;
	it.preference = cert != sg->cert;
	it.signer_cert = signer_ci;
	emit(st, &it);
	smp_certinfo_free(signer_ci);
	smp_certinfo_free(ci);
}

static int inspect_message(const smp_message *m, void *arg)
{
	struct inspect_run *st = arg;
	smp_item it;
	char *msg = NULL;

	if (m->kind != SMP_MSG_SIGNED || m->n_signers == 0) {
		memset(&it, 0, sizeof(it));
		it.source = m->file;
		it.action = "inspected";
		it.reason = "no_certificate";
		it.mail = m;
		if (m->kind == SMP_MSG_MALFORMED) {
			if (asprintf(&msg, "cannot read a message in '%s': %s", m->file,
				     m->problem ? m->problem : "malformed") < 0)
				msg = NULL;
			it.action = "failed";
			it.reason = "malformed";
			it.message = msg != NULL ? msg : "malformed message";
			it.status = smp_exit_status(SMP_ERR_BADINPUT);
		}
		emit(st, &it);
		free(msg);
		return st->stop;
	}
	for (size_t i = 0; i < m->n_signers && st->stop == 0; i++) {
		const smp_signer *sg = &m->signers[i];

		if (sg->cert == NULL) {
			memset(&it, 0, sizeof(it));
			it.source = m->file;
			it.action = "inspected";
			it.reason = "signer_not_carried";
			it.mail = m;
			it.signer = sg;
			it.message = "the message does not carry the signer's certificate";
			emit(st, &it);
			continue;
		}
		inspect_signer(st, m, sg, sg->cert);
		if (sg->encryption_cert != NULL)
			inspect_signer(st, m, sg, sg->encryption_cert);
	}
	return st->stop;
}

static void inspect_certificates(struct inspect_run *st, const char *path,
				 const unsigned char *data, size_t len)
{
	smp_bundle *b = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (smp_bundle_read(&b, data, len, &err) != 0) {
		emit_failure(st, path, err.code, "cannot read '%s': %s", path, err.msg);
		return;
	}
	for (size_t i = 0; i < smp_bundle_leaf_count(b) && st->stop == 0; i++)
		inspect_cert(st, path, smp_bundle_leaf(b, i), smp_bundle_all(b));
	smp_bundle_free(b);
}

static void inspect_path(struct inspect_run *st, const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_error err = SMP_ERROR_INIT;
	int r;

	if (pub_looks_like_mail(path, NULL, 0)) {
		if ((r = smp_messages_read(path, inspect_message, st, &err)) != 0 && st->stop == 0)
			emit_failure(st, path, r, "%s", err.msg);
		return;
	}
	if (smp_read_file(&data, &len, path, INSPECT_MAX_INPUT, &err) != 0) {
		emit_failure(st, path, err.code, "%s", err.msg);
		return;
	}
	if (!pub_looks_like_mail(path, data, len))
		inspect_certificates(st, path, data, len);
	else if ((r = smp_messages_parse(data, len, path, inspect_message, st, &err)) != 0 &&
		 st->stop == 0)
		emit_failure(st, path, r, "cannot read '%s': %s", path, err.msg);
	free(data);
}

/* See engine.h. */
int smp_inspect_paths(smp_session *s, const smp_inspect_options *opts,
		      const char *const *paths, size_t n, smp_error *err)
{
	struct inspect_run st;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "inspect options of version %u: this "
				     "library knows version %u", opts != NULL ? opts->version : 0,
				     SMP_ENGINE_VERSION);
	memset(&st, 0, sizeof(st));
	st.s = s;
	st.o = opts;
	for (size_t i = 0; i < n && st.stop == 0; i++) {
		inspect_path(&st, paths[i]);
		if (opts->on_progress != NULL)
			opts->on_progress(i + 1, n, opts->ctx);
	}
	return 0;
}
