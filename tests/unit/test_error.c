/* Unit tests for lib/error.c: exit statuses (SPEC §5) and the one "worst status" rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smimepub/error.h"

static void test_status_worse_order(void **state)
{
	/* from least to most severe; 64 and 65 rank alike */
	static const int order[] = { 0, 1, 65, 66, 69, 77 };
	const size_t n = sizeof(order) / sizeof(order[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int want = order[i > j ? i : j];

			assert_int_equal(smp_status_worse(order[i], order[j]), want);
		}
	}
	assert_int_equal(smp_status_worse(64, 65), 64);   /* a tie keeps the first */
	assert_int_equal(smp_status_worse(65, 64), 65);
	assert_int_equal(smp_status_worse(64, 1), 64);
	assert_int_equal(smp_status_worse(66, 64), 66);
	/* any other non-zero status ranks as 1: worse than 0, never worse than 64 */
	assert_int_equal(smp_status_worse(0, 2), 2);
	assert_int_equal(smp_status_worse(1, 2), 1);
	assert_int_equal(smp_status_worse(2, 65), 65);
}

static void test_status_worse_folds(void **state)
{
	static const int seen[] = { 1, 0, 65, 1, 69, 66, 0 };
	int worst = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		worst = smp_status_worse(worst, seen[i]);
	assert_int_equal(worst, 69);
	assert_int_equal(smp_status_worse(worst, 77), 77);
}

static void test_exit_status(void **state)
{
	(void)state;
	assert_int_equal(smp_exit_status(SMP_OK), 0);
	assert_int_equal(smp_exit_status(SMP_ERR_USAGE), 64);
	assert_int_equal(smp_exit_status(SMP_ERR_BADINPUT), 65);
	assert_int_equal(smp_exit_status(SMP_ERR_NOFILE), 66);
	assert_int_equal(smp_exit_status(SMP_ERR_UNAVAILABLE), 69);
	assert_int_equal(smp_exit_status(SMP_ERR_ACCESS), 77);
	assert_int_equal(smp_exit_status(SMP_ERR_CONFLICT), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_worse_order),
		cmocka_unit_test(test_status_worse_folds),
		cmocka_unit_test(test_exit_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
