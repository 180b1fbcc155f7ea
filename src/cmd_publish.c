/* smimepub publish: put each certificate onto the entry that matches its mailbox (SPEC §4). */
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "cli.h"
#include "inputs.h"
#include "publish.h"

/* Refuses option combinations that make no sense for publish. Returns 0 or 64. */
static int check_usage(const struct cli_opts *o)
{
	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("publish needs at least one FILE ('-' reads standard input)");
		return 64;
	}
	return pub_check_policy(o, "publish");
}

int cmd_publish(struct cli_opts *o)
{
	struct cli_run run;
	struct cli_inputs in;
	smp_publish_options po;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r, status;

	memset(&in, 0, sizeof(in));
	memset(&run, 0, sizeof(run));
	if ((status = check_usage(o)) != 0)
		return status;
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	if ((r = pub_open_dir(&dir, o, &err)) != 0 ||
	    (r = cli_trust_directory(trust, dir, o, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	if ((status = cli_run_init(&run, o, dir, trust, "publish")) != 0)
		goto out;
	cli_publish_options(&po, &run);
	cli_progress_start(&run.progress, o, "publish");
	r = smp_publish_paths(run.session, &po, (const char *const *)in.paths, in.n, &err);
	cli_progress_end(&run.progress);
	if (r != 0) {
		cli_error_of(&err);
		smp_session_note_status(run.session, 1);
	}
	status = cli_run_release(&run);
out:
	cli_inputs_release(&in);
	if (dir != NULL)
		smp_dir_close(dir);
	smp_trust_free(trust);
	return status;
}
