package decoy

import (
	"time"

	"samizdat/transport/selfsigned"
)

// drawShape draws the look of a deployment's certificates: key type,
// subject attributes, an issuer of a drawn name (or none), whether the
// issuer's certificate is sent, validity and renewal, when the current
// validity began, and the serials' length.
func drawShape(d *dice, now time.Time) selfsigned.Shape {
	s := selfsigned.Shape{Key: pick(d, []string{selfsigned.P256, selfsigned.P256, selfsigned.P384, selfsigned.RSA2048, selfsigned.RSA2048})}
	org := orgName(d)
	if d.chance(0.5) {
		s.Subject.Organization = org
		if d.chance(0.7) {
			s.Subject.Country = pick(d, countries)
		}
		if d.chance(0.4) {
			s.Subject.Locality = pick(d, places) + pick(d, []string{"ton", "by", "ham", "field", "wick"})
		}
	}
	if d.chance(0.7) {
		in := selfsigned.Name{CommonName: org + " " + pick(d, caSuffixes)}
		if d.chance(0.8) {
			in.Organization = org
		}
		if d.chance(0.5) {
			in.Country = pick(d, countries)
		}
		if d.chance(0.3) {
			in.OrganizationalUnit = pick(d, []string{"IT", "Operations", "Infrastructure", "Security", "PKI"})
		}
		s.Issuer = &in
		s.Chain = d.chance(0.5)
	}
	days := time.Duration(pick(d, []int{90, 90, 180, 365, 365, 397, 730, 825, 3650})) * 24 * time.Hour
	if d.chance(0.5) {
		days -= time.Second // as some authorities do
	}
	s.Validity = days
	s.Renew = (days / 100 * time.Duration(d.between(40, 75))).Truncate(time.Hour)
	anchor := now.Add(-d.duration(0, s.Renew)).UTC()
	s.Anchor = anchor.Truncate(pick(d, []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}))
	s.SerialBytes = d.between(8, 20)
	return s
}

// orgName is a plausible small organisation's name.
func orgName(d *dice) string {
	switch d.intn(3) {
	case 0:
		return pick(d, adjectives) + " " + pick(d, places) + " " + pick(d, orgWords)
	case 1:
		return pick(d, places) + pick(d, []string{"side", "way", "point", "gate", "line"}) + " " + pick(d, orgWords)
	default:
		return pick(d, firstNames) + " " + pick(d, orgWords)
	}
}

var (
	countries  = []string{"DE", "NL", "FR", "GB", "US", "SE", "FI", "CH", "AT", "CZ", "PL", "CA", "IE", "DK", "NO", "EE"}
	caSuffixes = []string{"CA", "Root CA", "Internal CA", "Issuing CA", "TLS CA", "Certificate Authority", "CA 1", "CA G2", "Server CA"}
)
