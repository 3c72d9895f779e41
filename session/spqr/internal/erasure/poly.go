package erasure

// basis evaluates polynomials given by their values at a fixed set of
// distinct points xs: the polynomial of degree < len(xs) through
// (xs[j], ys[j]) takes at x the value Σ ys[j]·L_j(x), where
//
//	L_j(x) = Π_{m≠j} (x - xs[m]) / (xs[j] - xs[m])
//
// are the Lagrange weights. The weights depend only on xs and x, so one
// computation serves every polynomial sharing the points.
type basis struct {
	xs     []gf
	invDen []gf // invDen[j] = 1 / Π_{m≠j} (xs[j] - xs[m])
	w      []gf // weights at lastX, once haveW
	lastX  gf
	haveW  bool
}

// newBasis prepares a basis for the distinct points xs. It costs about
// len(xs)² multiplications.
func newBasis(xs []gf) *basis {
	b := &basis{xs: xs, invDen: make([]gf, len(xs)), w: make([]gf, len(xs))}
	for j, xj := range xs {
		den := gf(1)
		for m, xm := range xs {
			if m != j {
				den = den.mul(xj.add(xm))
			}
		}
		b.invDen[j] = den.inv()
	}
	return b
}

// weights returns L_j(x) for every j. The slice is owned by the basis and
// stays valid until weights is called with another x.
func (b *basis) weights(x gf) []gf {
	if b.haveW && b.lastX == x {
		return b.w
	}
	// w[j] = Π_{m<j} (x - xs[m]), then times Π_{m>j} (x - xs[m]) and invDen[j].
	// This also covers x ∈ xs: the weights become 1 at that point, 0 elsewhere.
	acc := gf(1)
	for j, xj := range b.xs {
		b.w[j] = acc
		acc = acc.mul(x.add(xj))
	}
	acc = 1
	for j := len(b.xs) - 1; j >= 0; j-- {
		b.w[j] = b.w[j].mul(acc).mul(b.invDen[j])
		acc = acc.mul(x.add(b.xs[j]))
	}
	b.lastX, b.haveW = x, true
	return b.w
}

// dot returns Σ ys[j]·w[j].
func dot(ys, w []gf) gf {
	var acc gf
	for j, y := range ys {
		acc = acc.add(y.mul(w[j]))
	}
	return acc
}
