/* smimepub publish: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_publish(struct cli_opts *o)
{
	(void)o;
	cli_error("'publish' is not implemented yet");
	return 1;
}
