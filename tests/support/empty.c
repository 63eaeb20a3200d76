/* Keeps the test helper library non-empty. */
typedef int limes_test_support_unused;
