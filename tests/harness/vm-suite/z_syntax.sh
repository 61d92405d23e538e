# Harness self-test: a suite file with a syntax error.  The error, the test
# before it (sourcing the file fails) and the test after it (never defined)
# must all be counted as failures.

test_before_the_syntax_error() {
	true
}

if then fi

test_after_the_syntax_error() {
	true
}
