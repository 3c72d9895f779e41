package labdata

import "testing"

func FuzzParseAWS(f *testing.F) {
	f.Add([]byte(`{"prefixes":[{"ip_prefix":"13.32.0.0/15","region":"GLOBAL","service":"AMAZON"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseAWS(b)
		for _, p := range err2nil(err, ps) {
			if !p.Prefix.Addr().Is4() || p.Prefix != p.Prefix.Masked() {
				t.Fatalf("bad prefix %v", p.Prefix)
			}
		}
	})
}

func FuzzParseGoogle(f *testing.F) {
	f.Add([]byte(`{"prefixes":[{"ipv4Prefix":"34.35.0.0/16","service":"Google Cloud","scope":"africa-south1"},{"ipv6Prefix":"2600:1900::/35"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseGoogle(b, "G")
		for _, p := range err2nil(err, ps) {
			if !p.Prefix.Addr().Is4() {
				t.Fatalf("bad prefix %v", p.Prefix)
			}
		}
	})
}

func FuzzParseRKN(f *testing.F) {
	f.Add([]byte("# c\n149.154.160.0/20;4096;telegram_own;Telegram;;;\n52.0.0.0/11;2097152;cloud_collateral;AWS;GLOBAL;AMAZON;\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bl, err := ParseRKN(b)
		if err != nil {
			return
		}
		for _, x := range bl {
			if x.Size() == 0 {
				t.Fatalf("empty prefix %v", x.Prefix)
			}
		}
	})
}

func FuzzParseZIStats(f *testing.F) {
	f.Add([]byte("commit,commit_time_utc_epoch,commit_time_iso,dump_updated_header,records,distinct_ips,distinct_domains,records_multi_ip,added_records,removed_records\n" +
		"ca64,1353346679,2012-11-19T18:37:59+01:00,2012-11-17 18:09:00 +0000,47,44,46,0,47,0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseZIStats(b)
		if err == nil {
			MedianGap(d)
		}
	})
}

func err2nil(err error, ps []Prefix) []Prefix {
	if err != nil {
		if ps != nil {
			panic("result with error")
		}
		return nil
	}
	return ps
}
