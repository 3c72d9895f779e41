package channel

import "crypto/x509"

// SetTestRoots makes sources without a pin trust pool instead of the
// system roots (nil restores them).
func SetTestRoots(pool *x509.CertPool) { testRoots = pool }
