//! RFC 6455 §9.1 and RFC 7692 §7: the `Sec-WebSocket-Extensions` grammar and
//! permessage-deflate negotiation on arbitrary header values. What parses
//! stays within the documented limits and prints back to a canonical form
//! that parses to the same list; a server's answer to any offer is itself
//! valid and acceptable to a client that offered the defaults.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::extension::{
    DeflateConfig, ExtensionElement, MAX_EXTENSIONS, MAX_PARAMS, negotiate_client, negotiate_server,
    parse_extension_list,
};

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    if let Ok(list) = parse_extension_list(value) {
        assert!(!list.is_empty() && list.len() <= MAX_EXTENSIONS);
        for element in &list {
            assert!(is_token(&element.name), "name {:?}", element.name);
            assert!(element.params.len() <= MAX_PARAMS);
            for param in &element.params {
                assert!(is_token(&param.name), "param {:?}", param.name);
                if let Some(v) = &param.value {
                    assert!(is_token(v), "value {v:?}");
                }
            }
            assert_eq!(ExtensionElement::parse(&element.to_string()).as_ref(), Ok(element));
        }
        let canonical = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        assert_eq!(parse_extension_list(&canonical), Ok(list.clone()));
        let offers: Vec<String> = list.iter().map(ToString::to_string).collect();
        let config = DeflateConfig::default();
        if let Some(agreed) = negotiate_server(&config, offers.iter().map(String::as_str)) {
            let answer = agreed.to_element().to_string();
            assert!(ExtensionElement::parse(&answer).is_ok(), "{answer}");
            let ours = config.client_offers();
            let default_offer = ours.iter().map(|o| o.to_element().to_string()).collect::<Vec<_>>();
            // A server answer to exactly our own offer is one we accept.
            if offers == default_offer {
                assert!(matches!(negotiate_client(&config, [answer.as_str()]), Ok(Some(_))), "{answer}");
            }
        }
    }
    // The client side never panics on a server's answer, whatever it is.
    let _ = negotiate_client(&DeflateConfig::default(), [value]);
});
