# Harness self-test: a suite file with a syntax error.  The test before the
# error runs; the one after it cannot, and both the error and the missing
# test must be counted.

test_before_the_syntax_error() {
	true
}

if then fi

test_after_the_syntax_error() {
	true
}
