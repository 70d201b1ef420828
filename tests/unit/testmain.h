/* testmain.h: the shared main of every Check unit test; each test file defines test_suite(). */
#ifndef P2P_TESTMAIN_H
#define P2P_TESTMAIN_H

#include <check.h>
#include <stdlib.h>

Suite *test_suite(void);

int
main(void)
{
	SRunner *sr = srunner_create(test_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
