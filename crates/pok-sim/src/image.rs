//! A small generated PNG: what the simulator serves behind image and preview URLs.
//!
//! The picture is a certificate-like card (a frame, a seal, lines of "text") whose colours
//! come from a hash of what it shows, so that two credentials give two different images.

/// Width of every image, in pixels.
const WIDTH: u32 = 320;
/// Height of every image, in pixels.
const HEIGHT: u32 = 226;

/// FNV-1a: a stable hash, so the same credential always gives the same picture.
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Renders a PNG for `seed_text` (a credential or template id and title).
pub(crate) fn render_png(seed_text: &str) -> Result<Vec<u8>, png::EncodingError> {
    let h = hash(seed_text).to_le_bytes();
    let accent = [h[0] / 2 + 40, h[1] / 2 + 40, h[2] / 2 + 40];
    let paper = [250u8, 247, 238];
    let ink = [60u8, 60, 70];
    let mut data = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    let (cx, cy, r) = (i64::from(WIDTH) - 60, i64::from(HEIGHT) - 60, 28i64);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let border = x < 8 || y < 8 || x >= WIDTH - 8 || y >= HEIGHT - 8;
            let inner_line = (x == 14 || x == WIDTH - 15) && (14..HEIGHT - 14).contains(&y)
                || (y == 14 || y == HEIGHT - 15) && (14..WIDTH - 14).contains(&x);
            let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
            let seal = dx * dx + dy * dy <= r * r;
            // "Text": a title bar and three lines whose lengths depend on the hash.
            let title = (40..52).contains(&y) && (60..WIDTH - 60).contains(&x);
            let line = (0..3u32).any(|i| {
                let top = 80 + i * 22;
                let len = 120 + u32::from(h[3 + i as usize] % 100);
                (top..top + 6).contains(&y) && (40..40 + len).contains(&x)
            });
            let pixel = if border || inner_line || seal {
                accent
            } else if title || line {
                ink
            } else {
                paper
            };
            data.extend_from_slice(&pixel);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_png_that_depends_on_its_text() {
        let a = render_png("cred-a").unwrap();
        let b = render_png("cred-b").unwrap();
        assert_ne!(a, b);
        let decoder = png::Decoder::new(std::io::Cursor::new(a));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
    }
}
