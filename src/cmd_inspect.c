/* smimepub inspect: read certificates (and signed mail) and report facts and problems. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inputs.h"

#define INSPECT_MAX_INPUT (16u * 1024u * 1024u)

struct inspect_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_trust *trust;
	int status;       /* worst input status: 0, 65, 66 */
	int critical;     /* a certificate had a critical problem */
};

static void note_status(struct inspect_state *st, int status)
{
	if (status > st->status)
		st->status = status;
}

static void report_cert(struct inspect_state *st, const char *file, X509 *leaf,
			STACK_OF(X509) *extra, json_t *context)
{
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	json_t *obj;

	if (smp_cert_analyze(&ci, leaf, extra, st->trust, &err) != 0) {
		cli_error("cannot inspect a certificate in '%s': %s", file, err.msg);
		note_status(st, 65);
		json_decref(context);
		return;
	}
	if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL)
		st->critical = 1;
	obj = json_pack("{s:s}", "file", file);
	if (context != NULL)
		json_object_update(obj, context);
	json_object_update_new(obj, cli_certinfo_json(ci));
	cli_out_record(&st->out, obj);
	json_decref(context);
	smp_certinfo_free(ci);
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
		report_cert(st, path, smp_bundle_leaf(b, i), smp_bundle_all(b), NULL);
	smp_bundle_free(b);
}

static void inspect_path(struct inspect_state *st, const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	smp_error err = SMP_ERROR_INIT;

	if (cli_read_file(&data, &len, path, INSPECT_MAX_INPUT, &err) != 0) {
		cli_error("%s", err.msg);
		note_status(st, smp_exit_status(err.code));
		return;
	}
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
		cli_error("%s", err.msg);
		return smp_exit_status(r);
	}
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0) {
		cli_error("%s", err.msg);
		smp_trust_free(st.trust);
		return smp_exit_status(r);
	}
	for (size_t i = 0; i < in.n; i++)
		inspect_path(&st, in.paths[i]);
	cli_inputs_release(&in);
	smp_trust_free(st.trust);
	if (st.status != 0)
		return st.status;
	return o->strict && st.critical ? 1 : 0;
}
