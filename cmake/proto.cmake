# modemu_proto(TARGET IMPORT_DIR <dir> PROTOS <files relative to dir> [GRPC] [EXTRA_IMPORT_DIRS <dirs>])
# Runs protoc (and the gRPC plugin) on the files and adds the generated code to TARGET. Output
# goes to ${PROJECT_BINARY_DIR}/gen keeping the path below IMPORT_DIR, so code includes
# "modemu/profile/profile.pb.h" as the .proto imports "modemu/profile/profile.proto".
function(modemu_proto target)
  cmake_parse_arguments(ARG "GRPC" "IMPORT_DIR" "PROTOS;EXTRA_IMPORT_DIRS" ${ARGN})
  set(extra_imports)
  foreach(dir ${ARG_EXTRA_IMPORT_DIRS})
    list(APPEND extra_imports -I ${dir})
  endforeach()
  set(out_dir ${PROJECT_BINARY_DIR}/gen)
  set(generated)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(outputs ${out_dir}/${base}.pb.cc ${out_dir}/${base}.pb.h)
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outputs ${out_dir}/${base}.grpc.pb.cc ${out_dir}/${base}.grpc.pb.h)
      set(plugin_args --grpc_out=${out_dir} --plugin=protoc-gen-grpc=${MODEMU_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND protobuf::protoc -I ${ARG_IMPORT_DIR} -I ${PROJECT_SOURCE_DIR}/emulator/proto ${extra_imports}
              --cpp_out=${out_dir} ${plugin_args} ${ARG_IMPORT_DIR}/${proto}
      DEPENDS ${ARG_IMPORT_DIR}/${proto} protobuf::protoc
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND generated ${outputs})
  endforeach()
  target_sources(${target} PRIVATE ${generated})
  target_include_directories(${target} PUBLIC ${out_dir})
endfunction()
