/* smimepub: entry point. The command table and option parsing live in options.c. */
#include <locale.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct cli_opts opts;
	const struct cli_command *cmd;
	int status;

	setlocale(LC_CTYPE, "");
	cmd = cli_parse(&opts, argc, argv, &status);
	if (cmd == NULL)
		return status;
	status = cmd->fn(&opts);
	OPENSSL_cleanup();
	return status;
}
