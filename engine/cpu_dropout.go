package engine

// dropoutRun writes the dropout of elements [4·qlo, 4·qlo+len(ds)) of a
// tensor: ds[e] = 0 where DropoutUniform(key, 4·qlo+e) < p, else
// ss[e]·scale. keyLo and keyHi are the Philox key (the seed's halves). On
// amd64 with AVX2 whole groups of 32 elements run in cpu_dropout_amd64.s
// (8 Philox blocks at once), bit for bit the scalar loop.
func dropoutRun(ds, ss []float32, qlo int, layer, step, keyLo, keyHi uint32, p, scale float32) {
	ss = ss[:len(ds)]
	e := 0
	if hasAVX2 {
		nv := len(ds) &^ 31
		// The vector loop carries no counter into the high word.
		if nv > 0 && uint64(qlo)>>32 == uint64(qlo+nv/4-1)>>32 {
			dropoutAVX2(&ds[0], &ss[0], nv, uint32(qlo), uint32(uint64(qlo)>>32), layer, step, keyLo, keyHi, p*(1<<24), scale)
			e = nv
		}
	}
	k := [2]uint32{keyLo, keyHi}
	for ; e < len(ds); e += 4 {
		q := qlo + e/4
		r := Philox([4]uint32{uint32(q), uint32(uint64(q) >> 32), layer, step}, k)
		for j := 0; j < 4 && e+j < len(ds); j++ {
			if float32(r[j]>>8)*(1.0/(1<<24)) < p {
				ds[e+j] = 0
			} else {
				ds[e+j] = ss[e+j] * scale
			}
		}
	}
}
