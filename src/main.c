/* smimepub: entry point. The command table and option parsing live in options.c. */
#include <locale.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "smimepub/compat.h"

#include "advice.h"
#include "cli.h"
#include "options.h"
#include "stop.h"

int main(int argc, char **argv)
{
	struct cli_opts opts;
	const struct cli_command *cmd;
	smp_error err = SMP_ERROR_INIT;
	int status, r;

	setlocale(LC_CTYPE, "");
	cli_json_init();
	cmd = cli_parse(&opts, argc, argv, &status);
	if (cmd == NULL)
		return status;
	/*
	 * Every command parses certificates in bulk: skip OpenSSL 3.0's per-key decoder set-up,
	 * once for the process and before anything is loaded (OPENSSL_cleanup releases it).
	 */
	if ((r = smp_compat_fast_key_decode(&err)) != 0) {
		cli_error_of(&err);
		OPENSSL_cleanup();
		return cmd->mask == CMD_AUDIT ? 3 : smp_exit_status(r);  /* audit: could not complete */
	}
	/*
	 * No command dies of SIGPIPE (a closed pipe on stdout, a dropped connection): they are
	 * errors the code sees. The commands that write, and audit, stop between changes on
	 * SIGINT or SIGTERM; the read-only others end at once, as by default.
	 */
	cli_stop_install((cmd->flags & WRITES) || cmd->mask == CMD_AUDIT || cmd->mask == CMD_SERVE);
	status = cmd->fn(&opts);
	/* a server's SIGTERM is how it is stopped, not an interrupted run */
	if (cmd->mask != CMD_SERVE)
		status = cli_stop_exit(cmd->name, cmd->mask == CMD_AUDIT, status);
	free(opts.undo_records);
	OPENSSL_cleanup();
	return status;
}
