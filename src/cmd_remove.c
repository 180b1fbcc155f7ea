/* smimepub remove: take selected certificates off one entry, journalled (SPEC §2, §4). */
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "publish.h"

int cli_remove_item(const smp_item *item, void *ctx)
{
	struct cli_run *run = ctx;
	json_t *record = cli_item_json(item);

	if (record != NULL && (item->cert != NULL || item->value_sha256 != NULL)) {
		json_object_set_new(record, "index", json_integer((json_int_t)item->value_index));
		if (item->attribute != NULL)
			json_object_set_new(record, "attribute", json_string(item->attribute));
	}
	cli_emit(run, item, record);
	return 0;
}

int cmd_remove(struct cli_opts *o)
{
	struct cli_run run;
	smp_remove_options ro = SMP_REMOVE_OPTIONS_INIT;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_plan *probe = NULL;
	smp_existing none = { NULL, NULL, 0 };
	smp_error err = SMP_ERROR_INIT;
	int r, selectors;

	selectors = (o->remove.fingerprint != NULL) + (o->remove.expired != 0) +
		    (o->remove.all != 0);
	if (o->nargs == 0 || selectors != 1) {
		cli_error("usage: smimepub remove ADDRESS|DN... with exactly one of --fingerprint "
			  "SHA256, --expired, --all");
		return 64;
	}
	if (smp_plan_remove(&probe, &none, &o->remove) == SMP_ERR_USAGE) {
		cli_error("invalid --fingerprint '%s': expected a SHA-256 (64 hex digits) or a "
			  "SHA-1 thumbprint (40), colons and spaces allowed", o->remove.fingerprint);
		return 64;
	}
	smp_plan_free(probe);
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&dir, o, &err)) != 0) {
		cli_error_of(&err);
		smp_trust_free(trust);
		return smp_exit_status(r);
	}
	if ((r = cli_run_init(&run, o, dir, trust, "remove")) == 0) {
		ro.sel = o->remove;
		ro.as_dn = o->remove_as_dn;
		ro.on_item = cli_remove_item;
		ro.ctx = &run;
		if (smp_remove_targets(run.session, &ro, (const char *const *)o->args,
				       (size_t)o->nargs, &err) != 0) {
			cli_error_of(&err);
			smp_session_note_status(run.session, smp_exit_status(err.code));
		}
		r = cli_run_release(&run);
	}
	smp_dir_close(dir);
	smp_trust_free(trust);
	return r;
}
