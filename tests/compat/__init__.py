"""Material shared by the tests that compare rpworker with the reference SDK."""
