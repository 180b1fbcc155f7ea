/* smimepub: entry point. The command table and option parsing live in options.c. */
#include <locale.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "smimepub/compat.h"

#include "advice.h"
#include "cli.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct cli_opts opts;
	const struct cli_command *cmd;
	smp_error err = SMP_ERROR_INIT;
	int status, r;

	setlocale(LC_CTYPE, "");
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
		return smp_exit_status(r);
	}
	status = cmd->fn(&opts);
	free(opts.undo_records);
	OPENSSL_cleanup();
	return status;
}
