//! Image sizes come from files and sockets: any size gives an image or a clear error, never
//! an overflow.

use proptest::prelude::*;
use studio_media::{I420Image, RgbImage};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_i420_size_is_an_image_or_an_error(width in any::<u32>(), height in any::<u32>(), len in 0usize..4096) {
        let result = I420Image::from_data(width, height, vec![0; len]);
        match I420Image::checked_byte_len(width, height) {
            Some(need) if need == len => prop_assert!(result.is_ok()),
            _ => prop_assert!(result.is_err()),
        }
    }

    #[test]
    fn any_rgb_size_is_an_image_or_an_error(width in any::<u32>(), height in any::<u32>(), len in 0usize..4096) {
        let result = RgbImage::from_data(width, height, vec![0; len]);
        let need = u128::from(width) * u128::from(height) * 3;
        prop_assert_eq!(result.is_ok(), need == len as u128);
    }
}

#[test]
fn the_largest_sizes_do_not_overflow() {
    assert_eq!(I420Image::checked_byte_len(u32::MAX, u32::MAX), None);
    assert_eq!(I420Image::byte_len(u32::MAX, u32::MAX), usize::MAX);
    assert!(I420Image::from_data(u32::MAX, u32::MAX, Vec::new()).is_err());
    assert!(RgbImage::from_data(u32::MAX, u32::MAX, Vec::new()).is_err());
    assert_eq!(I420Image::checked_byte_len(4, 2), Some(12));
    assert_eq!(I420Image::checked_byte_len(3, 3), Some(9 + 2 * 4));
}
