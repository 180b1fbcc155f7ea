/* smimepub publish: put each certificate onto the entry that matches its mailbox (SPEC §4). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "cli.h"
#include "inputs.h"
#include "publish.h"

/* A record for an input that could not be read at all. */
static void report_unreadable(struct pub_ctx *c, const char *path, const smp_error *err)
{
	struct pub_result res;
	int status = smp_exit_status(err->code);

	memset(&res, 0, sizeof(res));
	res.action = "failed";
	res.reason = status == 66 ? "file_not_found" : "unreadable";
	res.status = status;
	res.message = strdup(err->msg);
	pub_emit(c, &res, pub_result_json(&res, NULL, path));
	pub_result_release(&res);
}

/* Publishes one leaf of a file. */
static void publish_leaf(struct pub_ctx *c, const char *path, X509 *leaf, STACK_OF(X509) *extra)
{
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	struct pub_result res;
	unsigned char *der = NULL;
	int len;

	memset(&res, 0, sizeof(res));
	if (smp_cert_analyze(&ci, leaf, extra, c->trust, &err) != 0) {
		report_unreadable(c, path, &err);
		return;
	}
	len = i2d_X509(leaf, &der);
	if (len <= 0) {
		smp_error_openssl(&err, SMP_ERR_BADINPUT, "cannot encode the certificate in '%s'",
				  path);
		report_unreadable(c, path, &err);
		goto out;
	}
	if (pub_certificate(c, der, (size_t)len, ci, path, &res) != 0) {
		cli_error("cannot publish '%s': out of memory", path);
		pub_note_status(c, 1);
		goto out;
	}
	pub_emit(c, &res, pub_result_json(&res, ci, path));
out:
	pub_result_release(&res);
	OPENSSL_free(der);
	smp_certinfo_free(ci);
}

static void publish_path(struct pub_ctx *c, const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_bundle *b = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (cli_read_file(&data, &len, path, SMP_MAX_INPUT, &err) != 0) {
		report_unreadable(c, path, &err);
		return;
	}
	if (smp_bundle_read(&b, data, len, &err) != 0) {
		char why[SMP_ERROR_MSG_MAX];

		memcpy(why, err.msg, sizeof(why));
		smp_error_set(&err, err.code, "cannot read '%s': %s", path, why);
		report_unreadable(c, path, &err);
		goto out;
	}
	for (size_t i = 0; i < smp_bundle_leaf_count(b); i++)
		publish_leaf(c, path, smp_bundle_leaf(b, i), smp_bundle_all(b));
out:
	smp_bundle_free(b);
	free(data);
}

/* ---- bulk: many inputs, directory work overlapped (pub_bulk) ---------------------------- */

#define BULK_CHUNK 1000   /* certificates analysed and held at once */

struct bulk {
	struct pub_ctx *c;
	struct pub_item *items;
	size_t n;
	size_t done;              /* certificates finished in earlier chunks */
	size_t total;             /* input files, for the progress line */
	struct cli_progress *prog;
	int nomem;
};

static struct pub_item *bulk_next(struct bulk *b, const char *path)
{
	struct pub_item *it = &b->items[b->n++];

	memset(it, 0, sizeof(*it));
	it->source = path;
	return it;
}

static void bulk_flush(struct bulk *b)
{
	if (b->n == 0)
		return;
	if (pub_bulk(b->c, b->items, b->n, b->prog, b->done, b->total) != 0) {
		cli_error("cannot publish: out of memory");
		pub_note_status(b->c, 1);
		b->nomem = 1;
	}
	b->done += b->n;
	b->n = 0;
}

static void bulk_unreadable(struct bulk *b, const char *path, const smp_error *err)
{
	struct pub_item *it = bulk_next(b, path);
	int status = smp_exit_status(err->code);

	it->res.action = "failed";
	it->res.reason = status == 66 ? "file_not_found" : "unreadable";
	it->res.status = status;
	it->res.message = strdup(err->msg);
	if (b->n == BULK_CHUNK)
		bulk_flush(b);
}

static void bulk_path(struct bulk *b, const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_bundle *bu = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (cli_read_file(&data, &len, path, SMP_MAX_INPUT, &err) != 0) {
		bulk_unreadable(b, path, &err);
		return;
	}
	if (smp_bundle_read(&bu, data, len, &err) != 0) {
		char why[SMP_ERROR_MSG_MAX];

		memcpy(why, err.msg, sizeof(why));
		smp_error_set(&err, err.code, "cannot read '%s': %s", path, why);
		bulk_unreadable(b, path, &err);
		goto out;
	}
	for (size_t i = 0; i < smp_bundle_leaf_count(bu) && !b->nomem; i++) {
		X509 *leaf = smp_bundle_leaf(bu, i);
		smp_certinfo *ci = NULL;
		unsigned char *der = NULL;
		int dlen;

		if (smp_cert_analyze(&ci, leaf, smp_bundle_all(bu), b->c->trust, &err) != 0) {
			bulk_unreadable(b, path, &err);
			continue;
		}
		dlen = i2d_X509(leaf, &der);
		if (dlen <= 0) {
			smp_certinfo_free(ci);
			smp_error_openssl(&err, SMP_ERR_BADINPUT,
					  "cannot encode the certificate in '%s'", path);
			bulk_unreadable(b, path, &err);
			continue;
		}
		{
			struct pub_item *it = bulk_next(b, path);

			it->ci = ci;
			it->len = (size_t)dlen;
			if ((it->der = malloc(it->len)) != NULL)
				memcpy(it->der, der, it->len);
			OPENSSL_free(der);
			if (it->der == NULL) {
				smp_certinfo_free(ci);
				it->ci = NULL;
				pub_failure(&it->res, SMP_ERR_NOMEM, "out of memory");
			}
		}
		if (b->n == BULK_CHUNK)
			bulk_flush(b);
	}
out:
	smp_bundle_free(bu);
	free(data);
}

/* Publishes every input in chunks of BULK_CHUNK certificates through pub_bulk. */
static void publish_bulk(struct pub_ctx *c, const struct cli_inputs *in, struct cli_progress *prog)
{
	struct bulk b;

	/* a server that goes away mid-write must be an error to reconnect from, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	memset(&b, 0, sizeof(b));
	b.c = c;
	b.prog = prog;
	b.total = in->n;
	if ((b.items = calloc(BULK_CHUNK, sizeof(*b.items))) == NULL) {
		cli_error("cannot publish: out of memory");
		pub_note_status(c, 1);
		return;
	}
	for (size_t i = 0; i < in->n && !b.nomem; i++)
		bulk_path(&b, in->paths[i]);
	bulk_flush(&b);
	for (size_t i = 0; i < b.n; i++)
		pub_item_release(&b.items[i]);
	free(b.items);
}

/* Refuses option combinations that make no sense for publish. Returns 0 or 64. */
static int check_usage(const struct cli_opts *o)
{
	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("publish needs at least one FILE ('-' reads standard input)");
		return 64;
	}
	if (o->from_ldif != NULL) {
		cli_error("publish --from-ldif is not supported: publish against a directory "
			  "(with --dry-run to change nothing)");
		return 64;
	}
	return pub_check_policy(o);
}

int cmd_publish(struct cli_opts *o)
{
	struct pub_ctx c;
	struct cli_inputs in;
	struct cli_progress prog;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r, status;

	memset(&in, 0, sizeof(in));
	if ((status = check_usage(o)) != 0)
		return status;
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error("%s", err.msg);
		return smp_exit_status(r);
	}
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0) {
		cli_error("%s", err.msg);
		status = smp_exit_status(r);
		goto out;
	}
	if ((r = cli_connect(&dir, o, &err)) != 0) {
		cli_error("%s", err.msg);
		status = smp_exit_status(r);
		goto out;
	}
	if (smp_dir_warning(dir) != NULL)
		cli_warn(o, "%s", smp_dir_warning(dir));

	pub_ctx_init(&c, o, dir, trust, "publish");
	cli_progress_start(&prog, o, "publish");
	if (in.n > 1 && !o->dry_run) {
		publish_bulk(&c, &in, &prog);
	} else {
		for (size_t i = 0; i < in.n; i++) {
			publish_path(&c, in.paths[i]);
			cli_progress_update(&prog, i + 1, in.n);
		}
	}
	cli_progress_end(&prog);
	status = c.status;
	pub_ctx_release(&c);
out:
	cli_inputs_release(&in);
	if (dir != NULL)
		smp_dir_close(dir);
	smp_trust_free(trust);
	return status;
}
