package spqr

import (
	"fmt"
	"strings"
)

var kindNames = map[v1Kind]string{
	kindKeysUnsampled:     "keys_unsampled",
	kindKeysSampled:       "keys_sampled",
	kindHeaderSent:        "header_sent",
	kindCt1Received:       "ct1_received",
	kindEkSentCt1Received: "ek_sent_ct1_received",
	kindNoHeaderReceived:  "no_header_received",
	kindHeaderReceived:    "header_received",
	kindCt1Sampled:        "ct1_sampled",
	kindEkReceivedCt1:     "ek_received_ct1_sampled",
	kindCt1Acknowledged:   "ct1_acknowledged",
	kindCt2Sampled:        "ct2_sampled",
}

// DescribeMessage summarizes an SPQR message for debugging, for example
// "v1 epoch 2 index 7 ek chunk 5". It prints no chunk data.
func DescribeMessage(msg []byte) string {
	if len(msg) == 0 {
		return "v0 (empty)"
	}
	m, err := parseMessage(msg)
	if err != nil {
		return fmt.Sprintf("undecodable (%d bytes, first byte %d)", len(msg), msg[0])
	}
	s := fmt.Sprintf("v1 epoch %d index %d %v", m.epoch, m.index, m.typ)
	if m.typ.hasChunk() {
		s += fmt.Sprintf(" chunk %d", m.chunkIndex)
	}
	return s
}

// DescribeState summarizes a state for debugging: version, negotiation,
// protocol state and epoch, chain epochs and counters. It prints no key
// material.
func DescribeState(state []byte) string {
	st, err := decodeState(state)
	if err != nil {
		return "undecodable state"
	}
	if st.GetV1() == nil {
		return "v0"
	}
	var b strings.Builder
	b.WriteString("v1")
	if vn := st.GetNegotiation(); vn != nil {
		fmt.Fprintf(&b, " negotiating(min v%d)", vn.GetMinVersion())
	}
	if s, err := v1FromPB(st.GetV1()); err != nil {
		b.WriteString(" invalid-v1-state")
	} else {
		fmt.Fprintf(&b, " %s epoch %d", kindNames[s.kind], s.epoch)
	}
	if c := st.GetChain(); c != nil {
		fmt.Fprintf(&b, " chain(dir %d, epoch %d, send epoch %d, links", c.GetDirection(), c.GetCurrentEpoch(), c.GetSendEpoch())
		for _, l := range c.GetLinks() {
			fmt.Fprintf(&b, " [send %d recv %d kept %d]", l.GetSend().GetCtr(), l.GetRecv().GetCtr(),
				len(l.GetRecv().GetPrev())/historyEntrySize)
		}
		b.WriteString(")")
	} else {
		b.WriteString(" no-chain")
	}
	return b.String()
}
