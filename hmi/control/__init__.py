"""Control: what may be written and commanded (the plant file's rules), interlocks, and the services that write."""
