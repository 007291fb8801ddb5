//! Feature bit vectors as BOLT 9 lays them out on the wire, and the "it's OK to be odd" rule.
//!
//! BOLT 9: features are a big-endian bit field; bit 0 is the least significant bit of the
//! *last* byte. Bits come in pairs: the even bit means required, the odd bit optional.
//! BOLT 1 "it's OK to be odd": a reader must understand every even bit that is set.

/// Whether `bit` is set in the wire-order feature vector. Bits beyond the vector are unset.
pub fn is_set(features: &[u8], bit: usize) -> bool {
    let from_end = bit / 8;
    if from_end >= features.len() {
        return false;
    }
    features
        .get(features.len() - 1 - from_end)
        .is_some_and(|byte| byte & (1u8 << (bit % 8)) != 0)
}

/// Sets `bit`, growing the vector at the front (the high-order end) as needed.
pub fn set(features: &mut Vec<u8>, bit: usize) {
    let needed = bit / 8 + 1;
    if features.len() < needed {
        let grow = needed - features.len();
        features.splice(0..0, std::iter::repeat_n(0u8, grow));
    }
    let index = features.len() - 1 - bit / 8;
    if let Some(byte) = features.get_mut(index) {
        *byte |= 1u8 << (bit % 8);
    }
}

/// Set bits in ascending order.
pub fn set_bits(features: &[u8]) -> impl Iterator<Item = usize> + '_ {
    features
        .iter()
        .rev()
        .enumerate()
        .flat_map(|(byte_index, &byte)| {
            (0..8)
                .filter(move |b| byte & (1u8 << b) != 0)
                .map(move |b| byte_index * 8 + b)
        })
}

/// The lowest even (required) bit whose feature is not in `known`, if any.
///
/// `known` lists feature bits in either parity: knowing a feature means understanding both its
/// required and its optional bit (BOLT 9 pairs them).
pub fn first_unknown_required(features: &[u8], known: &[usize]) -> Option<usize> {
    set_bits(features).find(|bit| bit % 2 == 0 && !known.iter().any(|k| k & !1 == *bit))
}

/// BOLT 1: "it's OK to be odd" — only unknown even bits make a feature vector unacceptable.
pub fn requires_unknown(features: &[u8], known: &[usize]) -> bool {
    first_unknown_required(features, known).is_some()
}

/// Drops leading zero bytes, the canonical form BOLT 9 asks writers to send.
pub fn trimmed(features: &[u8]) -> &[u8] {
    let first = features
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(features.len());
    features.get(first..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_zero_is_lsb_of_last_byte() {
        let f = [0x80, 0x01];
        assert!(is_set(&f, 0));
        assert!(is_set(&f, 15));
        assert!(!is_set(&f, 1));
        assert!(!is_set(&f, 16));
        assert!(!is_set(&[], 0));
        assert_eq!(set_bits(&f).collect::<Vec<_>>(), vec![0, 15]);
    }

    #[test]
    fn set_grows_at_the_front() {
        let mut f = Vec::new();
        set(&mut f, 9);
        assert_eq!(f, vec![0x02, 0x00]);
        set(&mut f, 0);
        assert_eq!(f, vec![0x02, 0x01]);
        set(&mut f, 17);
        assert_eq!(f, vec![0x02, 0x02, 0x01]);
        assert_eq!(set_bits(&f).collect::<Vec<_>>(), vec![0, 9, 17]);
    }

    #[test]
    fn unknown_odd_bits_are_fine_unknown_even_are_not() {
        let mut f = Vec::new();
        set(&mut f, 13);
        assert!(!requires_unknown(&f, &[]));
        set(&mut f, 14);
        assert_eq!(first_unknown_required(&f, &[]), Some(14));
        // Knowing the optional bit of a pair covers its required bit too.
        assert_eq!(first_unknown_required(&f, &[15]), None);
        assert_eq!(first_unknown_required(&f, &[14]), None);
        set(&mut f, 100);
        assert_eq!(first_unknown_required(&f, &[14]), Some(100));
    }

    #[test]
    fn trimmed_drops_leading_zeros() {
        assert_eq!(trimmed(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(trimmed(&[0, 0]), &[] as &[u8]);
    }
}
