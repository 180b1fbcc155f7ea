/* smimepub remove: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_remove(struct cli_opts *o)
{
	(void)o;
	cli_error("'remove' is not implemented yet");
	return 1;
}
