/* smimepub audit: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_audit(struct cli_opts *o)
{
	(void)o;
	cli_error("'audit' is not implemented yet");
	return 1;
}
