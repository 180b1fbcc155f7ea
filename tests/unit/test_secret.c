/* Unit tests: memory for secrets (smimepub/secret.h), what the kernel says about it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "smimepub/secret.h"

/* The VmFlags line of the /proc/self/smaps mapping holding p, or "" when none does. */
static void vm_flags(char *out, size_t size, const void *p)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;

	out[0] = '\0';
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, size, "%s", line + 8);
			break;
		}
	}
	fclose(fp);
}

static int has_flag(const char *flags, const char *flag)
{
	char want[8];

	snprintf(want, sizeof(want), " %s", flag);
	return strstr(flags, want) != NULL;
}

static void test_not_dumpable_and_not_dumped(void **state)
{
	char flags[512];
	char *s;

	(void)state;
	s = smp_secret_strdup("hunter2");
	assert_non_null(s);
	assert_string_equal(s, "hunter2");
	/* no core file, no ptrace by the same user's other processes */
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	vm_flags(flags, sizeof(flags), s);
	if (!has_flag(flags, "dd"))
		fail_msg("the secret's mapping is not MADV_DONTDUMP: VmFlags%s", flags);
	if (!has_flag(flags, "wf"))
		fail_msg("the secret's mapping is not MADV_WIPEONFORK: VmFlags%s", flags);
	smp_secret_free(s);
	/* cleared and gone: the mapping is no longer there */
	vm_flags(flags, sizeof(flags), s);
	assert_string_equal(flags, "");
	/* stays not dumpable: libldap's own copies were freed without being cleared */
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

static void test_forked_child_sees_zeroes(void **state)
{
	char *s = smp_secret_strdup("hunter2");
	pid_t pid;
	int status;

	(void)state;
	assert_non_null(s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(s[0] == '\0' && memcmp(s, "\0\0\0\0\0\0\0", 7) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(s, "hunter2");  /* the parent keeps it */
	smp_secret_free(s);
}

static void test_sizes(void **state)
{
	unsigned char *p;

	(void)state;
	smp_secret_free(NULL);
	assert_null(smp_secret_strdup(NULL));
	assert_null(smp_secret_alloc(SIZE_MAX));
	/* more than a page, zeroed, all of it writable */
	p = smp_secret_alloc(10000);
	assert_non_null(p);
	for (size_t i = 0; i < 10000; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, 10000);
	smp_secret_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_dumpable_and_not_dumped),
		cmocka_unit_test(test_forked_child_sees_zeroes),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
